#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import Tracing

extension Step {
    // MARK: - step.sleep

    /// Sleeps for `duration`, durably: the run is checkpointed and set aside, holding no task
    /// and no memory beyond its rows, and resumes by replay when the time comes — in whichever
    /// worker is up then, after any number of restarts.
    ///
    /// The wake-up time is fixed the first time the run reaches the sleep, so a replay sleeps
    /// until the same moment.
    public func sleep(_ id: String, for duration: Duration) async throws {
        try await sleep(id, until: { $0 + duration.milliseconds })
    }

    /// Sleeps until `date`, durably; a date already past records the step and goes on. See
    /// ``sleep(_:for:)``. The store keeps the time to the millisecond.
    public func sleepUntil(_ id: String, until date: Date) async throws {
        let milliseconds = date.millisecondsSinceEpoch
        try await sleep(id, until: { _ in milliseconds })
    }

    private func sleep(_ id: String, until wakeTime: (Int64) -> Int64) async throws {
        try checkNotInterrupted()
        let key = try nextKey(for: id)
        let now = client.configuration.clock.now()
        let until: Int64
        switch memo(key) {
        case let record? where record.status == .completed:
            return
        case let record?:
            until = record.output?["until"]?.intValue ?? now
        case nil:
            until = wakeTime(now)
        }
        if now >= until {
            // Awake: recorded as done, so later replays pass straight through.
            let record = StepRecord(
                runID: run.id, key: key, stepID: id, kind: .sleep, status: .completed, output: StepRecord.suspensionOutput(until: until),
                error: nil, failedAttempts: 0, startedAt: memo(key)?.startedAt ?? now, endedAt: now)
            try await commit(step: record, events: nil, transition: .none)
            remember(record)
            return
        }
        let record = StepRecord(
            runID: run.id, key: key, stepID: id, kind: .sleep, status: .waiting, output: StepRecord.suspensionOutput(until: until),
            error: nil, failedAttempts: 0, startedAt: memo(key)?.startedAt ?? now, endedAt: now)
        try await commit(step: record, events: nil, transition: .sleep(until: min(until, finishDeadline ?? until)))
        interrupt(.suspended)
        stepLogger(key).debug("run sleeping", metadata: ["until": "\(until)"])
        throw RunInterruption.suspended
    }

    // MARK: - step.waitForEvent

    /// Waits for the next event named `event` that arrives after the wait begins, durably:
    /// returns it, or `nil` once `timeout` passes. The run is set aside meanwhile, as with
    /// ``sleep(_:for:)``.
    ///
    /// - Parameters:
    ///   - match: a dotted path such as `"data.userId"`: only an event whose value there equals
    ///     the triggering event's value at the same path matches. Matching an incoming event
    ///     against waiting runs is an index look-up, however many runs wait.
    /// - Returns: the matching event, or `nil` when the wait timed out.
    ///   - if: a further condition, such as `"async.data.amount >= event.data.minimum"` (see
    ///     ``EventCondition``). Waits with only a condition are found by event name, and each
    ///     is checked: give a `match` too where one field identifies the event.
    public func waitForEvent(
        _ id: String, event name: String, timeout: Duration, match: String? = nil, if condition: String? = nil
    ) async throws -> StoredEvent? {
        try checkNotInterrupted()
        let key = try nextKey(for: id)
        let now = client.configuration.clock.now()
        var startedAt = now
        let until: Int64
        switch memo(key) {
        case let record? where record.status == .completed:
            return try record.output.flatMap(StoredEvent.decodedFromStep).map { event throws(UserDecryptionError) in
                try client.configuration.userEncryption.open(event)
            }
        case let record?:
            until = record.output?["until"]?.intValue ?? now
            startedAt = record.startedAt
        case nil:
            until = now + timeout.milliseconds
        }
        if now >= until {
            // Timed out: the store resolves a match only while the run is `waiting`, and this
            // run is running now, so no event can complete the step behind this commit.
            let record = StepRecord(
                runID: run.id, key: key, stepID: id, kind: .waitForEvent, status: .completed, output: .null, error: nil,
                failedAttempts: 0, startedAt: startedAt, endedAt: now)
            try await commit(StepWrite(record, endsWaits: true), events: nil, transition: .none)
            remember(record)
            return nil
        }
        let envelope = triggeringEvent.expressionEnvelope
        let matchValue = match.map { path in envelope.value(atPath: path) ?? .null }
        var boundCondition: EventCondition?
        if let condition {
            do {
                boundCondition = try EventCondition(condition).binding(event: envelope)
            } catch {
                throw NonRetriableError("step '\(id)' has an invalid condition", cause: error)
            }
        }
        let record = StepRecord(
            runID: run.id, key: key, stepID: id, kind: .waitForEvent, status: .waiting, output: StepRecord.suspensionOutput(until: until),
            error: nil, failedAttempts: 0, startedAt: startedAt, endedAt: now)
        let wait = RunWait(
            stepKey: key, eventName: name, matchPath: match, matchValue: matchValue, condition: boundCondition,
            expiresAt: min(until, finishDeadline ?? until))
        try await commit(step: record, events: nil, transition: .wait(waits: [wait], until: wait.expiresAt))
        interrupt(.suspended)
        stepLogger(key).debug("run waiting for an event", metadata: ["event": "\(name)", "until": "\(until)"])
        throw RunInterruption.suspended
    }
}

extension Step {
    // MARK: - step.invoke

    /// Runs `function` with `data` as its event's data, and returns its output: the invoking
    /// run waits meanwhile, set aside like a sleep, and resumes when the invoked run ends.
    ///
    /// The invoked run is created exactly once (with its `stepwise/function.invoked` event, in
    /// the transaction that records this step), and runs like any other: retried, replayed,
    /// on any worker.
    ///
    /// - Parameters:
    ///   - function: a function of this client's app.
    ///   - data: the invoked function's `event.data`; must be a JSON object.
    ///   - timeout: how long to wait for the invoked run to end.
    /// - Returns: the invoked function's output, decoded.
    /// - Throws: ``StepError`` if the invoked run failed (carrying its error), was cancelled,
    ///   or did not end within `timeout`; now and on every replay.
    public func invoke<Output: Decodable & Sendable>(
        _ id: String, function: StepwiseFunction, data: EventPayload = [:], timeout: Duration = .seconds(24 * 3600),
        as type: Output.Type = Output.self
    ) async throws -> Output {
        try checkNotInterrupted()
        let key = try nextKey(for: id)
        let now = client.configuration.clock.now()
        switch memo(key) {
        case let record? where record.status == .completed:
            return try invokeResult(record.invocation ?? .timedOut, stepID: id, function: function, as: Output.self)
        case let record? where record.status == .failed:
            throw StepError(stepID: id, error: record.error ?? ErrorRecord(name: "Stepwise.StepError", message: "failed"))
        case let record? where record.status == .waiting:
            // Claimed before the invoked run ended and before the timeout (another worker's
            // clock ran ahead): wait on.
            let until = record.output?["until"]?.intValue ?? now
            try await commit(step: nil, events: nil, transition: .wait(waits: [], until: until))
            interrupt(.suspended)
            throw RunInterruption.suspended
        default:
            break
        }
        guard let invoked = client.registry.function(id: function.id) else {
            throw NonRetriableError("step '\(id)' invokes function '\(function.id)', which this app does not define")
        }
        let batch: EventBatch
        do {
            var event = Event(name: SystemEvent.functionInvoked)
            event.data = data
            // The invoked run continues this run's trace, as a run an event starts continues its sender's.
            batch = try client.eventBatch(
                [event], receivedAt: now, allowReservedNames: true, userPayloads: true,
                traceContext: TraceContext.injected(from: ServiceContext.current, by: client.tracer))
        } catch {
            throw NonRetriableError("step '\(id)' invokes '\(function.id)' with data it cannot send", cause: error)
        }
        guard let invokedEvent = batch.events.first else {
            throw NonRetriableError("step '\(id)' invokes '\(function.id)', but its event was not made")
        }
        let until = now + timeout.milliseconds
        // The invoked run's id is chosen here, so that the step records it and waits for the
        // end of that run, whose system events carry it in `data.run_id`.
        let invokedRun = NewRun.triggered(
            id: RunID(ULIDGenerator.shared.next(milliseconds: now)), appID: client.id, functionID: invoked.id,
            settings: invoked.settings, by: invokedEvent, environment: client.configuration.environment, receivedAt: now)
        let record = StepRecord(
            runID: run.id, key: key, stepID: id, kind: .invoke, status: .waiting,
            output: StepRecord.suspensionOutput(until: until, invokedRun: invokedRun.id), error: nil,
            failedAttempts: 0, startedAt: now, endedAt: now)
        let ending = JSON.string(invokedRun.id.description)
        let waits = [SystemEvent.functionFinished, SystemEvent.functionFailed, SystemEvent.functionCancelled].map { name in
            RunWait(stepKey: key, eventName: name, matchPath: "data.run_id", matchValue: ending, expiresAt: until)
        }
        try await commit(StepWrite(record), events: batch, startsRun: invokedRun, transition: .wait(waits: waits, until: until))
        interrupt(.suspended)
        stepLogger(key).debug("run waiting for an invoked function", metadata: ["invoked": "\(function.id)"])
        throw RunInterruption.suspended
    }

    /// What `step.invoke` answers for how the invoked run ended.
    private func invokeResult<Output: Decodable>(
        _ outcome: InvocationOutcome, stepID: String, function: StepwiseFunction, as type: Output.Type
    ) throws -> Output {
        switch outcome {
        case .finished(_, let output):
            do {
                return try output.decode(as: Output.self, dates: client.configuration.dateEncoding)
            } catch {
                throw NonRetriableError("the output of invoked function '\(function.id)' does not decode as \(Output.self)", cause: error)
            }
        case .failed(_, let error):
            throw StepError(stepID: stepID, error: error)
        case .cancelled:
            throw StepError(stepID: stepID, error: ErrorRecord(
                name: "Stepwise.InvokeCancelled", message: "the run of invoked function '\(function.id)' was cancelled"))
        case .timedOut:
            throw StepError(stepID: stepID, error: ErrorRecord(
                name: "Stepwise.InvokeTimeout", message: "function '\(function.id)' did not finish in time"))
        }
    }
}
