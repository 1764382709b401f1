import Foundation
import Stepwise

/// The filter of the runs page and of its bulk actions, from query or form fields.
struct RunFilter: Sendable {
    var status: RunStatus?
    var function: String?
    var since: Int64?
    var until: Int64?
    /// The runs created before `until`, as a cursor: run ids are ULIDs, which begin with their
    /// creation time, so the smallest id of that millisecond bounds the listing by index.
    var upperBound: RunID? { until.flatMap(RunFilter.smallestRunID(at:)) }
    private var sinceText: String?
    private var untilText: String?

    init(_ fields: [String: String]) throws {
        if let text = fields["status"], !text.isEmpty {
            guard let status = RunStatus(rawValue: text) else {
                throw DashboardError(.badRequest, "status: must be one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
            }
            self.status = status
        }
        if let text = fields["function"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty { function = text }
        since = try DashboardRoutes.time(fields["since"], "since")
        until = try DashboardRoutes.time(fields["until"], "until")
        sinceText = since == nil ? nil : fields["since"]
        untilText = until == nil ? nil : fields["until"]
    }

    /// The filter as query parameters, with another status if given.
    func parameters(status: RunStatus?? = .none) -> [(String, String?)] {
        let chosen: RunStatus? = status ?? self.status
        return [("status", chosen?.rawValue), ("function", function), ("since", sinceText), ("until", untilText)]
    }

    /// Whether `run` was created within the filter's time range.
    func admits(_ run: RunRecord) -> Bool {
        if let since, run.createdAt < since { return false }
        if let until, run.createdAt >= until { return false }
        return true
    }

    private static let crockford = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    static func smallestRunID(at milliseconds: Int64) -> RunID? {
        guard milliseconds >= 0, milliseconds < (1 << 48) else { return nil }
        var value = UInt64(milliseconds)
        var characters = [Character](repeating: "0", count: 10)
        for index in stride(from: 9, through: 0, by: -1) {
            characters[index] = crockford[Int(value & 31)]
            value >>= 5
        }
        return RunID(String(characters) + String(repeating: "0", count: 16))
    }
}
