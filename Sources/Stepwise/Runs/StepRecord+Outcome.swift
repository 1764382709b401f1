/// What a step's record means, read the way the engine reads it: so that tools showing runs
/// (the REST API, the CLI, a dashboard) do not each decode the step-output format.
extension StepRecord {
    /// When a sleep, a wait or an invoke ends, or ended, in milliseconds since the epoch: a
    /// sleep's wake-up time; a wait's or an invoke's timeout while it is in progress. Users
    /// read ``untilDate``.
    package var until: Int64? {
        switch kind {
        case .sleep: return output?["until"]?.intValue
        case .waitForEvent, .invoke: return status == .waiting ? output?["until"]?.intValue : nil
        case .run, .sendEvent: return nil
        }
    }

    /// The event a completed `waitForEvent` received; `nil` when it timed out, or for any
    /// other step.
    public var receivedEvent: StoredEvent? {
        guard kind == .waitForEvent, status == .completed else { return nil }
        return output.flatMap(StoredEvent.decodedFromStep)
    }

    /// How the invoked run of a completed `invoke` ended; `nil` for any other step, and while
    /// the invoke is in progress.
    public var invocation: InvocationOutcome? {
        guard kind == .invoke, status == .completed else { return nil }
        guard let ending = output.flatMap(StoredEvent.decodedFromStep) else { return .timedOut }
        let runID = ending.data["run_id"]?.stringValue.flatMap(RunID.init)
        switch ending.name {
        case SystemEvent.functionFinished:
            return .finished(runID: runID, output: ending.data["output"] ?? .null)
        case SystemEvent.functionFailed:
            let error = ending.data["error"]
            return .failed(runID: runID, error: ErrorRecord(
                name: error?["name"]?.stringValue ?? "Stepwise.StepError", message: error?["message"]?.stringValue ?? "failed"))
        default:
            return .cancelled(runID: runID)
        }
    }
}

/// How an invoked function's run ended, as the invoking step recorded it.
public enum InvocationOutcome: Sendable, Hashable {
    /// It completed with this output (what `step.invoke` returns, decoded).
    case finished(runID: RunID?, output: JSON)
    /// It failed with this error (`step.invoke` throws it as a ``StepError``).
    case failed(runID: RunID?, error: ErrorRecord)
    /// It was cancelled.
    case cancelled(runID: RunID?)
    /// It did not end within the invoke's timeout.
    case timedOut
}

/// The step-output format, owned by the engine: the one place that writes what a step's
/// output holds, beside the readers above.
extension StepRecord {
    /// A `step.sendEvent`'s output: the ids its events were given (or, for a duplicate, the
    /// id of the event it repeated), in order.
    @_spi(StoreImplementation)
    public static func sentEventsOutput(_ ids: [EventID]) -> JSON {
        ["ids": .array(ids.map { .string($0.description) })]
    }

    /// The ids a completed `step.sendEvent` recorded; `nil` for any other step.
    public var sentEventIDs: [EventID]? {
        guard kind == .sendEvent, status == .completed else { return nil }
        return output?["ids"]?.arrayValue?.compactMap { $0.stringValue.flatMap(EventID.init) }
    }

    /// A sleep's, a wait's or an invoke's output while it is in progress: when it ends, and
    /// for an invoke, the run it waits for.
    static func suspensionOutput(until: Int64, invokedRun: RunID? = nil) -> JSON {
        var members: JSON.Object = ["until": .int(until)]
        if let invokedRun { members["run_id"] = .string(invokedRun.description) }
        return .object(members)
    }

    /// This record with another status, output and end, for the engine's later writes of the
    /// same step (a sleep that has slept, a wait that timed out).
    func with(status: StepStatus? = nil, output: JSON?, endedAt: Int64? = nil) -> StepRecord {
        StepRecord(
            runID: runID, key: key, stepID: stepID, kind: kind, status: status ?? self.status, output: output, error: error,
            failedAttempts: failedAttempts, startedAt: startedAt, endedAt: endedAt ?? self.endedAt)
    }
}
