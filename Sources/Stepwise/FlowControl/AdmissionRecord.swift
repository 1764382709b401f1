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
    /// The run the event met instead of starting its own: the debounced run that took a later
    /// event in its place, the batch it joined, the singleton run that was active.
    public let runID: RunID?
    /// When it was decided, in milliseconds since the epoch: the event's receipt.
    package let decidedAt: Int64

    public init(
        eventID: EventID, appID: String, functionID: String, reason: AdmissionReason, detail: String, runID: RunID? = nil, decidedAt: Int64
    ) {
        self.eventID = eventID
        self.appID = appID
        self.functionID = functionID
        self.reason = reason
        self.detail = detail
        self.runID = runID
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
    /// A debounced run took a later event in this one's place, or already held a later one.
    case debounced
    /// The event joined a batch: the run named starts with it and the batch's other events.
    case batched
    /// A run with the same singleton key was active, so the event started none.
    case singletonSkipped
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

    /// The record of an event a debounced run let go: a later event took its place, or the
    /// run held a later one already (`replaced` false).
    @_spi(StoreImplementation)
    public static func debounced(eventID: EventID, run: NewRun, into runID: RunID, by later: EventID, replaced: Bool) -> AdmissionRecord {
        let detail = replaced
            ? "debounced: event \(later) took its place in run \(runID)"
            : "debounced: run \(runID) holds event \(later), whose ts is later"
        return AdmissionRecord(
            eventID: eventID, appID: run.appID, functionID: run.functionID, reason: .debounced, detail: detail, runID: runID,
            decidedAt: run.createdAt)
    }

    /// The record of an event that joined the open batch `runID` as its `position`-th event.
    @_spi(StoreImplementation)
    public static func batched(eventID: EventID, run: NewRun, into runID: RunID, position: Int, of maxSize: Int) -> AdmissionRecord {
        AdmissionRecord(
            eventID: eventID, appID: run.appID, functionID: run.functionID, reason: .batched,
            detail: "batched into run \(runID), event \(position + 1) of at most \(maxSize)", runID: runID, decidedAt: run.createdAt)
    }

    /// The record of an event skipped because run `active` holds its singleton key.
    @_spi(StoreImplementation)
    public static func singletonSkipped(eventID: EventID, run: NewRun, active: RunID, key: String) -> AdmissionRecord {
        AdmissionRecord(
            eventID: eventID, appID: run.appID, functionID: run.functionID, reason: .singletonSkipped,
            detail: "skipped: run \(active) with singleton key '\(key)' is active", runID: active, decidedAt: run.createdAt)
    }
}
