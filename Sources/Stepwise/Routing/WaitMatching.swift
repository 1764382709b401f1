/// A wait a store found for an incoming event by its index (the event's name, and its value
/// at the wait's match path), for the engine to decide on.
@_spi(StoreImplementation)
public struct WaitCandidate: Sendable, Hashable {
    public let runID: RunID
    public let stepKey: String
    public let kind: RunWait.Kind
    public let expiresAt: Int64
    /// The wait's condition as stored (``EventCondition/description``), if it has one.
    public let condition: String?

    public init(runID: RunID, stepKey: String, kind: RunWait.Kind, expiresAt: Int64, condition: String?) {
        self.runID = runID
        self.stepKey = stepKey
        self.kind = kind
        self.expiresAt = expiresAt
        self.condition = condition
    }
}

/// What an incoming event does to a wait it matched, for a store to carry out in the
/// transaction that stores the event.
@_spi(StoreImplementation)
public enum WaitResolution: Sendable, Hashable {
    /// Complete the step `stepKey` of the run with `output` and queue the run to resume at
    /// once, if the run is still `waiting` (claimed at its timeout a moment ago, the timeout
    /// won); then drop the step's waits (an invoke waits on several names).
    case resumeStep(runID: RunID, stepKey: String, output: JSON)
    /// Cancel the run, if it has not ended: it ends `cancelled` with
    /// ``ErrorRecord/runCancelled(reason:)`` (`cancelOn`), its waits are dropped, and the
    /// event ``SystemEvent/cancelled(run:triggeringEvent:reason:cancelledBy:)`` builds is
    /// appended in the same transaction.
    case cancelRun(runID: RunID)
}

/// How an incoming event meets the runs waiting for events: the engine's rules, which every
/// store applies the same way inside its append transaction.
@_spi(StoreImplementation)
public enum WaitMatching {
    /// The value of `event` at a wait's match path, as a store indexes it: the compact JSON
    /// text of the value, `null` where the path leads nowhere. A store finds the waits an
    /// event may match by equality of this text with the stored ``RunWait/matchValue``'s.
    public static func indexedValue(of event: StoredEvent, atPath path: String) -> String {
        (envelope(of: event).value(atPath: path) ?? .null).serialized
    }

    /// What `event` does to each of the waits a store found for it: a wait whose condition
    /// does not hold is left as it is, and a cancellation counts only within its timeout.
    public static func resolutions(for event: StoredEvent, candidates: [WaitCandidate]) -> [WaitResolution] {
        guard !candidates.isEmpty else { return [] }
        let envelope = envelope(of: event)
        var output: JSON?
        var resolutions: [WaitResolution] = []
        for candidate in candidates {
            if let text = candidate.condition {
                // A condition stored by Stepwise always parses; one that does not matches nothing.
                guard let condition = try? EventCondition(text), condition.isSatisfied(by: envelope) else { continue }
            }
            switch candidate.kind {
            case .cancel:
                guard event.receivedAt <= candidate.expiresAt else { continue }
                resolutions.append(.cancelRun(runID: candidate.runID))
            case .step:
                if output == nil { output = StoredEvent.encodedForStep(event) }
                resolutions.append(.resumeStep(runID: candidate.runID, stepKey: candidate.stepKey, output: output ?? .null))
            }
        }
        return resolutions
    }

    private static func envelope(of event: StoredEvent) -> JSON {
        event.expressionEnvelope
    }
}
