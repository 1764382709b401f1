/// Why an accepted event started no run of a function that its name triggers: kept by the
/// store beside the event, so that "why didn't my function run?" has an answer to read
/// (through the client, the REST API and the CLI) rather than a silence.
public struct AdmissionRecord: Sendable, Hashable {
    public let eventID: EventID
    public let appID: String
    public let functionID: String
    public let reason: AdmissionReason
    /// The reason in words: the expression that filtered the event and what it gave, the
    /// key and window that turned it away.
    public let detail: String
    /// When it was decided, in milliseconds since the epoch: the event's receipt.
    package let decidedAt: Int64

    public init(eventID: EventID, appID: String, functionID: String, reason: AdmissionReason, detail: String, decidedAt: Int64) {
        self.eventID = eventID
        self.appID = appID
        self.functionID = functionID
        self.reason = reason
        self.detail = detail
        self.decidedAt = decidedAt
    }

}

/// Why an event started no run of a function.
public enum AdmissionReason: String, Sendable, Hashable, CaseIterable {
    /// The trigger's `if` did not hold for the event.
    case filtered
    /// An expression of the function (its `if` or a key) could not be evaluated for the
    /// event; the detail names the expression and the problem.
    case evaluationFailed
    /// The function's rate limit was reached for the event's key.
    case rateLimited
    /// An event with the same idempotency key started a run less than 24 hours before.
    case idempotent
}

extension AdmissionRecord {
    /// The record of an event whose run `limit` turned away, for the store that counted the
    /// window to keep.
    @_spi(StoreImplementation)
    public static func turnedAway(eventID: EventID, run: NewRun, by limit: RunFlow.Limited) -> AdmissionRecord {
        let window = limit.isIdempotency
            ? "an event with idempotency key '\(limit.key)' started a run in the last 24 hours"
            : "\(limit.limit) event\(limit.limit == 1 ? "" : "s") with rate-limit key '\(limit.key)' started runs in the last \(limit.periodMilliseconds) ms"
        return AdmissionRecord(
            eventID: eventID, appID: run.appID, functionID: run.functionID, reason: limit.reason, detail: window, decidedAt: run.createdAt)
    }
}
