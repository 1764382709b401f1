import Foundation

/// A cron expression: five fields, `minute hour day-of-month month day-of-week`, read in a
/// time zone.
///
/// Each field is `*`, a number, a range `a-b`, a list `a,b,c`, or a step `*/n` or `a-b/n`;
/// months and days of the week may be written as names (`JAN`, `MON`), and Sunday is 0 or 7.
/// When both day fields are restricted, a day matches if either does, as in Vixie cron. An
/// expression may start with `TZ=Area/City`, as Inngest's do.
///
/// ```swift
/// let schedule = try CronSchedule("0 9 * * MON-FRI", timeZone: "Europe/Paris")
/// ```
public struct CronSchedule: Sendable, Hashable, CustomStringConvertible {
    public let expression: String
    public let timeZoneIdentifier: String
    let minutes: [Int]
    let hours: [Int]
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    /// - Throws: ``CronScheduleError`` naming the field at fault, or an unknown time zone.
    public init(_ expression: String, timeZone: String = "UTC") throws(CronScheduleError) {
        var text = expression.trimmingCharacters(in: .whitespaces)
        var zone = timeZone
        if text.hasPrefix("TZ=") || text.hasPrefix("CRON_TZ=") {
            let parts = text.split(separator: " ", maxSplits: 1)
            zone = String(parts[0].split(separator: "=", maxSplits: 1).last ?? "")
            text = parts.count > 1 ? String(parts[1]) : ""
        }
        guard TimeZone(identifier: zone) != nil else {
            throw CronScheduleError(expression: expression, reason: "unknown time zone '\(zone)'")
        }
        let fields = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count == 5 else {
            throw CronScheduleError(expression: expression, reason: "expected 5 fields (minute hour day-of-month month day-of-week), found \(fields.count)")
        }
        self.expression = text
        self.timeZoneIdentifier = zone
        minutes = try Self.parse(fields[0], name: "minute", range: 0...59, names: [:], expression: expression).sorted()
        hours = try Self.parse(fields[1], name: "hour", range: 0...23, names: [:], expression: expression).sorted()
        daysOfMonth = try Self.parse(fields[2], name: "day-of-month", range: 1...31, names: [:], expression: expression)
        months = try Self.parse(fields[3], name: "month", range: 1...12, names: Self.monthNames, expression: expression)
        var weekdays = try Self.parse(fields[4], name: "day-of-week", range: 0...7, names: Self.dayNames, expression: expression)
        if weekdays.remove(7) != nil { weekdays.insert(0) }
        daysOfWeek = weekdays
        dayOfMonthRestricted = fields[2] != "*" && fields[2] != "?"
        dayOfWeekRestricted = fields[4] != "*" && fields[4] != "?"
    }

    public var description: String { "\(expression) (\(timeZoneIdentifier))" }

    /// The first time the schedule fires strictly after `milliseconds` since the epoch, or
    /// `nil` if it never does within eight years (`0 0 30 2 *`, say).
    public func next(after milliseconds: Int64) -> Int64? {
        guard let zone = TimeZone(identifier: timeZoneIdentifier) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        // The next whole minute after the given time.
        let start = Date(timeIntervalSince1970: Double((milliseconds / 60_000 + 1) * 60_000) / 1000)
        var day = calendar.startOfDay(for: start)
        for _ in 0..<(366 * 8) {
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            if let month = parts.month, let dayOfMonth = parts.day, let weekday = parts.weekday, months.contains(month),
               matchesDay(dayOfMonth: dayOfMonth, weekday: weekday - 1)
            {
                for hour in hours {
                    for minute in minutes {
                        var wanted = DateComponents()
                        wanted.year = parts.year
                        wanted.month = month
                        wanted.day = dayOfMonth
                        wanted.hour = hour
                        wanted.minute = minute
                        // A local time skipped by a daylight-saving change does not exist: skip it.
                        guard let date = calendar.date(from: wanted),
                              calendar.component(.hour, from: date) == hour, calendar.component(.minute, from: date) == minute,
                              date >= start
                        else { continue }
                        return Int64((date.timeIntervalSince1970 * 1000).rounded())
                    }
                }
            }
            guard let following = calendar.date(byAdding: .day, value: 1, to: day) else { return nil }
            day = following
        }
        return nil
    }

    private func matchesDay(dayOfMonth: Int, weekday: Int) -> Bool {
        switch (dayOfMonthRestricted, dayOfWeekRestricted) {
        case (true, true): return daysOfMonth.contains(dayOfMonth) || daysOfWeek.contains(weekday)
        case (true, false): return daysOfMonth.contains(dayOfMonth)
        case (false, true): return daysOfWeek.contains(weekday)
        case (false, false): return true
        }
    }

    private static let monthNames = ["JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12]
    private static let dayNames = ["SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6]

    private static func parse(
        _ field: String, name: String, range: ClosedRange<Int>, names: [String: Int], expression: String
    ) throws(CronScheduleError) -> Set<Int> {
        func failure(_ reason: String) -> CronScheduleError {
            CronScheduleError(expression: expression, reason: "\(name) field '\(field)': \(reason)")
        }
        func value(_ text: Substring) throws(CronScheduleError) -> Int {
            if let number = Int(text) {
                guard range.contains(number) else { throw failure("\(number) is outside \(range.lowerBound)-\(range.upperBound)") }
                return number
            }
            guard let named = names[text.uppercased()] else { throw failure("'\(text)' is not a number") }
            return named
        }
        var result = Set<Int>()
        for part in field.split(separator: ",", omittingEmptySubsequences: false) {
            let stepParts = part.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2, let base = stepParts.first, !base.isEmpty else { throw failure("malformed") }
            var step = 1
            if stepParts.count == 2 {
                guard let parsed = Int(stepParts[1]), parsed > 0 else { throw failure("the step must be a positive number") }
                step = parsed
            }
            let bounds: ClosedRange<Int>
            if base == "*" || base == "?" {
                bounds = range
            } else if let dash = base.firstIndex(of: "-") {
                let low = try value(base[..<dash])
                let high = try value(base[base.index(after: dash)...])
                guard low <= high else { throw failure("the range \(low)-\(high) is backwards") }
                bounds = low...high
            } else {
                let single = try value(base)
                bounds = stepParts.count == 2 ? single...range.upperBound : single...single
            }
            result.formUnion(stride(from: bounds.lowerBound, through: bounds.upperBound, by: step))
        }
        return result
    }
}

/// Why a cron expression was refused.
public struct CronScheduleError: Error, Sendable, Hashable, CustomStringConvertible {
    public let expression: String
    public let reason: String
    public var description: String { "invalid cron expression '\(expression)': \(reason)" }
}
