#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How a `Date` inside a `Codable` step result, function output or event payload is written
/// as JSON, and read back.
///
/// The default, ``iso8601``, writes `"2026-12-01T09:10:22.123Z"`: text any reader of the
/// store, the REST API or the dashboard understands at a glance, where Foundation's own
/// default writes seconds since 2001 (`817809022.123`), a number nothing outside Swift reads
/// as a time. Milliseconds are the precision of every other time Stepwise keeps (`ts`,
/// receive and run times) and of JavaScript's `Date`, which Inngest's SDKs use; finer
/// digits would be dropped by those readers, and coarser ones would change a value between
/// a first run and its replay.
///
/// Every strategy reads back what it writes, and also what the others write where that is
/// unambiguous: text in ISO 8601 (with or without fractional seconds) is always accepted, so
/// that records written before a change of strategy still replay. A number is read as the
/// strategy's own number; under ``iso8601`` as Foundation's seconds since 2001, which is
/// what step results held before ISO 8601 was the default.
public struct JSONDateEncoding: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case iso8601
        case millisecondsSince1970
        case secondsSince1970
        case deferredToDate
    }

    let kind: Kind

    /// ISO 8601 text in UTC with milliseconds, `"2026-12-01T09:10:22.123Z"`: the default.
    public static let iso8601 = JSONDateEncoding(kind: .iso8601)
    /// Milliseconds since the Unix epoch, as a number: the unit of an event's `ts`.
    public static let millisecondsSince1970 = JSONDateEncoding(kind: .millisecondsSince1970)
    /// Seconds since the Unix epoch, as a number with a fraction.
    public static let secondsSince1970 = JSONDateEncoding(kind: .secondsSince1970)
    /// Foundation's own default: seconds since 2001-01-01, as a number. Only for apps whose
    /// readers expect what Stepwise wrote before ISO 8601 became its default.
    public static let deferredToDate = JSONDateEncoding(kind: .deferredToDate)

    /// The strategy's name, as its static member spells it.
    public var description: String {
        switch kind {
        case .iso8601: return "iso8601"
        case .millisecondsSince1970: return "millisecondsSince1970"
        case .secondsSince1970: return "secondsSince1970"
        case .deferredToDate: return "deferredToDate"
        }
    }
}

extension JSONDateEncoding {
    private static let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    private static let withoutFraction = Date.ISO8601FormatStyle()

    func encode(_ date: Date, to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch kind {
        case .iso8601:
            try container.encode(Self.iso8601Text(date))
        case .millisecondsSince1970:
            try container.encode((date.timeIntervalSince1970 * 1000).rounded())
        case .secondsSince1970:
            try container.encode(date.timeIntervalSince1970)
        case .deferredToDate:
            try container.encode(date.timeIntervalSinceReferenceDate)
        }
    }

    /// `date` as ISO 8601 in UTC with exactly three fractional digits. The milliseconds are
    /// rounded from the date's own and written as digits, not left to a formatter, which
    /// truncates a double such as `.122999…` to `.122`.
    static func iso8601Text(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (seconds, fraction) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        let wholeSeconds = fraction < 0 ? seconds - 1 : seconds
        let digits = String(fraction < 0 ? fraction + 1000 : fraction)
        var text = Date(timeIntervalSince1970: Double(wholeSeconds)).formatted(withoutFraction)
        if text.last == "Z" { text.removeLast() }
        return text + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    func decode(from decoder: any Decoder) throws -> Date {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            if let date = (try? Self.withFraction.parse(text)) ?? (try? Self.withoutFraction.parse(text)) { return date }
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "'\(text)' is not a date in ISO 8601 (such as 2026-12-01T09:10:22.123Z)")
        }
        let number = try container.decode(Double.self)
        switch kind {
        case .iso8601, .deferredToDate: return Date(timeIntervalSinceReferenceDate: number)
        case .millisecondsSince1970: return Date(timeIntervalSince1970: number / 1000)
        case .secondsSince1970: return Date(timeIntervalSince1970: number)
        }
    }
}
