import Logging
import Synchronization
import Tracing

/// The steps of one run: what a function's closure receives as `step`.
///
/// Each step is memoized: the first time a run reaches `step.run("charge") { … }` the body
/// runs and its result is committed before the function goes on; every later replay of the
/// run (after a retry, a restart, on another worker) gets the recorded result back without
/// running the body. So code *between* steps runs on every replay and must be
/// deterministic; anything with a side effect, or that reads the clock or a random number,
/// belongs in a step.
///
/// Steps are keyed by their id and how many steps with that id came before in the run:
/// calling `step.run("email")` in a loop of ten makes ten steps, `email`, then `email`
/// followed by U+001F and 1 to 9 (see ``StepKey``). Step ids may not contain control
/// characters, so that no id can produce the key of another step's repeat.
public final class Step: Sendable {
    private struct State {
        var memo: [String: StepRecord]
        var occurrences: [String: Int] = [:]
        var interruption: RunInterruption?
        /// Steps the engine decided about at the claim (a sleep that has slept, a wait that
        /// timed out), written with the next checkpoint: every run commits again before it
        /// ends, and until then a replay decides the same.
        var pendingWrites: [StepWrite] = []
        /// The runs claimed in the transaction of the checkpoint that let this run go, when
        /// the store could claim there (``StoreClaimingWrites``) and the worker asked it to.
        var claimedNext: [ClaimedRun]?
    }

    let client: StepwiseClient
    let function: StepwiseFunction
    let run: RunRecord
    let lease: RunLease
    /// The event that triggered the run.
    let triggeringEvent: StoredEvent
    /// Every event that started the run, in order: the one a function receives as `event`,
    /// or a batch's (flow control's `batchEvents`), whose first is `event`.
    public let events: [StoredEvent]
    let logger: Logger
    /// The function's metrics, looked up once per execution.
    let metrics: FunctionMetrics
    private let state: Mutex<State>
    /// What to claim in the transaction of the checkpoint that lets the run go; `nil` for no
    /// such claim.
    private let claimNext: NextRunClaim?

    init(
        client: StepwiseClient, function: StepwiseFunction, claimed: ClaimedRun, logger: Logger,
        claimNext: NextRunClaim? = nil
    ) {
        self.claimNext = claimNext
        self.client = client
        self.function = function
        self.run = claimed.run
        self.lease = claimed.lease
        self.triggeringEvent = claimed.event
        self.events = claimed.events
        self.logger = logger
        self.metrics = client.metrics.function(function.id, app: claimed.run.appID)
        var state = State(memo: claimed.steps)
        state.pendingWrites = Self.suspensionsEnded(by: claimed)
        for write in state.pendingWrites { state.memo[write.record.key] = write.record }
        self.state = Mutex(state)
    }

    /// What the claim of a set-aside run means for its suspended steps: claimed out of
    /// `sleeping` at or after a sleep's wake-up time, the sleep is over; claimed out of
    /// `waiting`, its waits timed out (a matching event would have queued the run instead, and
    /// now that the run is `running` no event can resume them).
    private static func suspensionsEnded(by claimed: ClaimedRun) -> [StepWrite] {
        var writes: [StepWrite] = []
        for record in claimed.steps.values.sorted(by: { $0.startedAt < $1.startedAt }) where record.status == .waiting {
            switch (claimed.claimedFrom, record.kind) {
            case (.sleeping, .sleep):
                guard let until = record.until, until <= claimed.claimedAt else { continue }
                writes.append(StepWrite(record.with(status: .completed, output: record.output, endedAt: claimed.claimedAt)))
            case (.waiting, .waitForEvent), (.waiting, .invoke):
                writes.append(StepWrite(record.with(status: .completed, output: .null, endedAt: claimed.claimedAt), endsWaits: true))
            default:
                continue
            }
        }
        return writes
    }

    /// The id of the run these steps belong to.
    public var runID: RunID { run.id }

    /// How many times the function failed outside any step before this attempt.
    public var attempt: Int { run.attempt }

    /// When the run must have finished (`timeouts.finish`): a sleep or a wait that would go
    /// past it wakes the run then instead, for the engine to cancel it.
    var finishDeadline: Int64? {
        guard let finish = function.timeouts.finish else { return nil }
        return (run.startedAt ?? client.configuration.clock.now()) + finish.milliseconds
    }

    /// Why the run stopped early, if it did: the engine reads this after the closure returns.
    var interruption: RunInterruption? { state.withLock { $0.interruption } }

    /// The runs the checkpoint that let this run go claimed for the worker, or `nil` when no
    /// checkpoint claimed (none let the run go, or the store cannot claim in one).
    var claimedNext: [ClaimedRun]? { state.withLock { $0.claimedNext } }

    // MARK: - step.run

    /// Runs `body` once for the run and returns its result; on replay, returns the recorded
    /// result without running `body`.
    ///
    /// The result is encoded as JSON and committed before this returns, and what this returns
    /// is that JSON decoded again, so a first run and a replay see the same value.
    ///
    /// If `body` throws, the attempt is recorded and the run is retried later from the top
    /// (after the function's backoff, or a ``RetryAfterError``'s delay). When the step's
    /// attempts run out, or it throws ``NonRetriableError``, the step fails for good and this
    /// throws ``StepError``, now and on every replay.
    ///
    /// The result must be `Codable`: a result that is not does not compile, rather than
    /// being recorded as `null`. A body that returns nothing is a ``perform(_:_:)`` step.
    ///
    /// - Parameters:
    ///   - id: names the step within the run; keep it stable across code changes.
    ///   - body: the work, run at most once per successful attempt.
    @discardableResult
    public func run<Value: Codable & Sendable>(_ id: String, _ body: () async throws -> Value) async throws -> Value {
        try checkNotInterrupted()
        let key = try nextKey(for: id)
        let logger = stepLogger(key)
        let previousFailures: Int
        switch memo(key) {
        case let record? where record.status == .completed:
            return try replayed(record, as: Value.self, stepID: id)
        case let record? where record.status == .failed:
            throw StepError(stepID: id, error: record.error ?? ErrorRecord(name: "Stepwise.StepError", message: "failed"))
        case let record?:
            previousFailures = record.failedAttempts
        case nil:
            previousFailures = 0
        }

        let startedAt = client.configuration.clock.now()
        let value: Value
        let start = ContinuousClock.now
        do {
            // The body logs through `Logger.current` with the step's metadata, as swift-log's
            // guidance has libraries hand their context to the code they call; it runs in the
            // step's span, a child of the run's, so the app's own spans nest under it.
            value = try await client.withSpan("step \(id)", context: client.currentTraceParent, ofKind: .internal) { span in
                if span.isRecording {
                    // In one update: a span guards its attributes with a lock, taken per write.
                    // Room made for all three at once, each set as a `SpanAttribute` rather
                    // than through the subscript's `SpanAttributeConvertible` existential.
                    span.updateAttributes { attributes in
                        attributes.reserveCapacity(attributes.count + 3)
                        attributes.set("stepwise.step.id", value: .string(id))
                        attributes.set("stepwise.step.kind", value: .string(StepKind.run.rawValue))
                        attributes.set("stepwise.step.attempt", value: .int64(Int64(previousFailures)))
                    }
                }
                return try await withLogger(logger) { _ in try await body() }
            }
            metrics.stepDuration.recordNanoseconds(nanoseconds(since: start))
        } catch {
            if !(error is RunInterruption) { metrics.stepFailedDuration.recordNanoseconds(nanoseconds(since: start)) }
            try await recordFailure(error, key: key, stepID: id, kind: .run, previousFailures: previousFailures, startedAt: startedAt, logger: logger)
        }
        let output: JSON
        do {
            output = try JSON.payload(encoding: value, dates: client.configuration.dateEncoding)
        } catch {
            try await recordFailure(
                NonRetriableError("the result of step '\(id)' could not be encoded", cause: error), key: key, stepID: id,
                kind: .run, previousFailures: previousFailures, startedAt: startedAt, logger: logger)
        }
        let record = StepRecord(
            runID: run.id, key: key, stepID: id, kind: .run, status: .completed, output: output, error: nil,
            failedAttempts: previousFailures, startedAt: startedAt, endedAt: client.configuration.clock.now())
        // A first attempt that succeeds is the step's record itself: only a step that failed
        // before keeps its attempts apart, so the common step costs no second row.
        try await commit(
            StepWrite(record, attempt: previousFailures > 0 ? StepAttempt(ending: record) : nil), events: nil, transition: .none)
        remember(record)
        logger.debug("step completed")
        return try replayed(record, as: Value.self, stepID: id)
    }

    /// Runs `body` once for the run, for its side effect alone; on replay, does nothing.
    /// A step like ``run(_:_:)`` in every other way (retries, `StepError`, memoization).
    ///
    /// A name of its own rather than a `Void` overload of `run`: Swift takes a one-expression
    /// closure of any type as a `Void` one, so with such an overload a body whose result is
    /// not `Codable` compiled and silently recorded `null`. Now that is a compile error in
    /// `run`, and a step that returns nothing says so here.
    public func perform(_ id: String, _ body: () async throws -> Void) async throws {
        let _: JSON = try await run(id) {
            try await body()
            return JSON.null
        }
    }

    // MARK: - step.sendEvent

    /// Sends events exactly once for the run: the events, the runs they trigger and the
    /// step's record commit in one transaction, so however the run is retried, replayed or
    /// crashed, the events exist once. Replay returns the ids they were given.
    ///
    /// - Returns: the events' ids, in order (a deduplicated event answers with the first
    ///   event's id, as ``StepwiseClient/send(_:)-([Event])`` does).
    /// - Throws: ``StepError`` when the events are invalid (the step fails for good: retrying
    ///   the same events cannot help).
    @discardableResult
    public func sendEvent(_ id: String, _ events: [Event]) async throws -> [EventID] {
        try checkNotInterrupted()
        let key = try nextKey(for: id)
        let logger = stepLogger(key)
        if let record = memo(key) {
            switch record.status {
            case .completed:
                guard let ids = record.sentEventIDs else {
                    throw NonRetriableError("the record of sendEvent step '\(id)' holds no event ids")
                }
                return ids
            case .failed:
                throw StepError(stepID: id, error: record.error ?? ErrorRecord(name: "Stepwise.StepError", message: "failed"))
            case .errored, .waiting:
                break
            }
        }
        // A PRODUCER span under the run's, as `send`'s: its context is stored with the events,
        // so the runs they trigger join this run's trace.
        return try await client.withSpan(StepwiseClient.sendSpanName(events), context: client.currentTraceParent, ofKind: .producer) { span in
            if span.isRecording {
                span.updateAttributes { attributes in
                    StepwiseClient.describeSend(events, in: &attributes)
                    attributes["stepwise.step.id"] = id
                }
            }
            return try await sendEventInSpan(
                id, events, key: key, logger: logger, traceContext: TraceContext.injected(from: span.context, by: client.tracer))
        }
    }

    /// The work of ``sendEvent(_:_:)-([Event])`` once its step is known to be new.
    private func sendEventInSpan(
        _ id: String, _ events: [Event], key: String, logger: Logger, traceContext: TraceContext?
    ) async throws -> [EventID] {
        let startedAt = client.configuration.clock.now()
        let batch: EventBatch
        do {
            batch = try client.eventBatch(events, receivedAt: startedAt, allowReservedNames: false, traceContext: traceContext)
        } catch {
            try await recordFailure(
                NonRetriableError("step '\(id)' tried to send invalid events", cause: error), key: key, stepID: id,
                kind: .sendEvent, previousFailures: 0, startedAt: startedAt, logger: logger)
        }
        // The ids are fixed in the transaction that appends the events, and recorded with the
        // step there: replay returns these same ids.
        let record = StepRecord(
            runID: run.id, key: key, stepID: id, kind: .sendEvent, status: .completed, output: nil, error: nil,
            failedAttempts: 0, startedAt: startedAt, endedAt: startedAt)
        let outcomes = try await commit(
            StepWrite(record, output: .idsOfAppendedEvents), events: batch, transition: .none)
        let ids = outcomes.map(\.eventID)
        let duplicates = outcomes.count { $0.accepted == nil }
        client.metrics.countSent(accepted: outcomes.count - duplicates, duplicates: duplicates)
        remember(record.with(output: StepRecord.sentEventsOutput(ids)))
        logger.debug("step sent events", metadata: ["count": "\(ids.count)"])
        return ids
    }

    /// Sends one event exactly once for the run. See ``sendEvent(_:_:)-([Event])``.
    @discardableResult
    public func sendEvent(_ id: String, _ event: Event) async throws -> EventID {
        let ids = try await sendEvent(id, [event])
        return ids[0]
    }

    // MARK: - Internals

    /// Records a failed attempt: the step fails for good (and `StepError` is thrown into the
    /// function) or the run is rescheduled (and the function is unwound).
    private func recordFailure(
        _ error: any Error, key: String, stepID: String, kind: StepKind, previousFailures: Int, startedAt: Int64, logger: Logger
    ) async throws -> Never {
        if error is RunInterruption { throw error }
        if Task.isCancelled {
            // The worker is shutting down: the attempt did not fail, it was stopped.
            interrupt(.cancelled)
            throw RunInterruption.cancelled
        }
        let failures = previousFailures + 1
        let errorRecord = ErrorRecord(error)
        let now = client.configuration.clock.now()
        switch function.retries.decision(after: error, failures: failures) {
        case .fail:
            let record = StepRecord(
                runID: run.id, key: key, stepID: stepID, kind: kind, status: .failed, output: nil, error: errorRecord,
                failedAttempts: failures, startedAt: startedAt, endedAt: now)
            try await commit(StepWrite(record, attempt: StepAttempt(ending: record)), events: nil, transition: .none)
            remember(record)
            logger.warning("step failed for good", metadata: ["error": "\(errorRecord)", "attempts": "\(failures)"])
            throw StepError(stepID: stepID, error: errorRecord)
        case .retry(let delay):
            let record = StepRecord(
                runID: run.id, key: key, stepID: stepID, kind: kind, status: .errored, output: nil, error: errorRecord,
                failedAttempts: failures, startedAt: startedAt, endedAt: now)
            try await commit(
                StepWrite(record, attempt: StepAttempt(ending: record)), events: nil,
                transition: .retry(at: now + delay, attempt: run.attempt, error: errorRecord))
            interrupt(.retryScheduled)
            logger.notice("step failed, will retry", metadata: ["error": "\(errorRecord)", "attempt": "\(failures)", "delay_ms": "\(delay)"])
            throw RunInterruption.retryScheduled
        }
    }

    /// Commits for this run under its lease, with the steps decided at the claim. A lost
    /// lease, or a store that cannot commit, stops the run: nothing more may be done for it
    /// here. A transient store failure is retried first (``StoreRetry``): the store promises
    /// it stored nothing.
    @discardableResult
    func commit(
        _ write: StepWrite?, events: EventBatch?, startsRun: NewRun? = nil, transition: RunCheckpoint.Transition
    ) async throws -> [EventAppendOutcome] {
        let pending = state.withLock { $0.pendingWrites }
        do {
            let outcomes = try await StoreRetry.standard.run("commit", logger: logger) {
                let checkpoint = RunCheckpoint(
                    lease: lease, now: client.configuration.clock.now(), steps: pending + (write.map { [$0] } ?? []), events: events,
                    startsRun: startsRun, transition: transition)
                if checkpoint.leavesRunning, let store = client.store as? any StoreClaimingWrites, let claimNext, let request = claimNext.request() {
                    let result = try await store.commit(checkpoint, thenClaim: request, handOver: { claimNext.handOver($0, request) })
                    state.withLock { $0.claimedNext = result.claimed }
                    return result.outcomes
                }
                return try await client.store.commit(checkpoint)
            }
            if !pending.isEmpty {
                state.withLock { state in state.pendingWrites.removeAll { pending.contains($0) } }
            }
            return outcomes
        } catch let error as LeaseLostError {
            metrics.leasesLost.increment()
            interrupt(.leaseLost)
            logger.warning("lease lost; the run's work here is abandoned", metadata: ["error": "\(error)"])
            throw RunInterruption.leaseLost
        } catch {
            interrupt(.storeFailed)
            logger.error("could not commit a step; the run will be retried when its lease runs out", metadata: ["error": "\(error)"])
            throw RunInterruption.storeFailed
        }
    }

    /// Commits `step` (its output as recorded), events and a transition. See ``commit(_:events:startsRun:transition:)``.
    @discardableResult
    func commit(step: StepRecord?, events: EventBatch?, transition: RunCheckpoint.Transition) async throws -> [EventAppendOutcome] {
        try await commit(step.map { StepWrite($0) }, events: events, transition: transition)
    }

    private func replayed<Value: Decodable>(_ record: StepRecord, as type: Value.Type, stepID: String) throws -> Value {
        do {
            return try (record.output ?? .null).decode(as: Value.self, dates: client.configuration.dateEncoding)
        } catch {
            throw NonRetriableError("the recorded result of step '\(stepID)' does not decode as \(Value.self); was the code changed under a run in flight?", cause: error)
        }
    }

    func checkNotInterrupted() throws {
        if let interruption = interruption { throw interruption }
    }

    /// The key of the next step with `id`: the id for the first, a generated key for a
    /// repeat, or the key a run recorded before generated keys had their own separator.
    ///
    /// - Throws: ``NonRetriableError`` when `id` holds a control character.
    func nextKey(for id: String) throws -> String {
        if let problem = StepKey.problem(with: id) { throw NonRetriableError(problem) }
        return state.withLock { state in
            let occurrence = state.occurrences[id, default: 0]
            state.occurrences[id] = occurrence + 1
            let key = StepKey.key(id: id, occurrence: occurrence)
            if occurrence > 0, state.memo[key] == nil,
               let legacy = state.memo[StepKey.legacyKey(id: id, occurrence: occurrence)], legacy.stepID == id {
                return legacy.key
            }
            return key
        }
    }

    func memo(_ key: String) -> StepRecord? {
        state.withLock { $0.memo[key] }
    }

    func remember(_ record: StepRecord) {
        state.withLock { $0.memo[record.key] = record }
    }

    func interrupt(_ interruption: RunInterruption) {
        state.withLock { state in
            if state.interruption == nil { state.interruption = interruption }
        }
    }

    func stepLogger(_ key: String) -> Logger {
        var logger = logger
        logger[metadataKey: "stepwise.step"] = "\(key)"
        return logger
    }
}

/// Why a run stopped before its function returned. Thrown through the user's closure to
/// unwind it, and caught only by the engine (which also reads it from the `Step`, in case the
/// closure caught and swallowed it).
enum RunInterruption: Error, Sendable, Equatable {
    /// A step failed and the run is rescheduled for its retry.
    case retryScheduled
    /// Another worker holds the run now.
    case leaseLost
    /// The worker is shutting down.
    case cancelled
    /// The store could not commit; the run is retried when its lease runs out.
    case storeFailed
    /// The run sleeps or waits for an event, set aside until then.
    case suspended
}
