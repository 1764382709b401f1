/// A worker's hold on a run: only the holder of the current lease can commit for the run.
///
/// Every claim of a run increments its token, and every commit for a run checks the token it
/// was given, so a worker whose lease ran out and was taken over commits nothing (fencing).
public struct RunLease: Sendable, Hashable {
    public let runID: RunID
    public let token: Int64
    public let owner: String

    public init(runID: RunID, token: Int64, owner: String) {
        self.runID = runID
        self.token = token
        self.owner = owner
    }
}

/// The run's lease was taken over by another worker, or the run ended: the commit was refused
/// and nothing of it was stored.
public struct LeaseLostError: Error, Sendable, Hashable, CustomStringConvertible {
    public let runID: RunID

    /// Thrown by a store's fence, the only place that knows the lease moved on; public so that
    /// stores outside this module refuse a stale commit with the error the engine catches.
    public init(runID: RunID) {
        self.runID = runID
    }

    public var description: String { "the lease on run \(runID) was lost; nothing was committed" }
}

/// A request to claim runs that are due.
///
/// A value with defaults, so that what flow control adds joins it without changing a call
/// site or a store's signature: an order (priority moves a run ahead of those due before it)
/// and capacities (a concurrency key's limit, checked in the claim's transaction, so that
/// workers racing on one store never exceed it). Today a claim takes the earliest due first,
/// up to ``limit``.
public struct ClaimRequest: Sendable {
    public var environment: String
    public var appID: String
    /// Only runs of these functions: the ones the claiming worker can execute.
    public var functionIDs: [String]
    public var owner: String
    public var now: Int64
    /// How long the lease lasts unless renewed, in milliseconds.
    public var leaseDuration: Int64
    /// How many runs at most: the worker's free slots.
    public var limit: Int

    public init(
        environment: String = "default", appID: String, functionIDs: [String], owner: String, now: Int64, leaseDuration: Int64,
        limit: Int = 1
    ) {
        self.environment = environment
        self.appID = appID
        self.functionIDs = functionIDs
        self.owner = owner
        self.now = now
        self.leaseDuration = leaseDuration
        self.limit = limit
    }
}

/// A claimed run with what a worker needs to replay it.
public struct ClaimedRun: Sendable {
    public let run: RunRecord
    public let lease: RunLease
    /// The event that started the run; the first of ``events``.
    public let event: StoredEvent
    /// Every event that started the run, in order: one, or a batch's.
    public let events: [StoredEvent]
    /// The run's recorded steps, by key.
    public let steps: [String: StepRecord]
    /// The status the run was claimed out of: a run claimed out of `sleeping` has slept, and
    /// one claimed out of `waiting` has timed out (an event would have queued it), which the
    /// engine records with its next checkpoint.
    public let claimedFrom: RunStatus
    /// The claim's time (``ClaimRequest/now``), by which the store found the run due.
    public let claimedAt: Int64
    /// When the run was due, as the store found it (its ``RunRecord/availableAt`` before the
    /// claim moved it to the lease's end): the claim delay metric is `claimedAt - dueAt`, how
    /// long a due run waited for a worker. `nil` from a store that does not say.
    public let dueAt: Int64?

    public init(
        run: RunRecord, lease: RunLease, event: StoredEvent, events: [StoredEvent]? = nil, steps: [String: StepRecord], claimedFrom: RunStatus,
        claimedAt: Int64, dueAt: Int64? = nil
    ) {
        self.run = run
        self.lease = lease
        self.event = event
        self.events = events ?? [event]
        self.steps = steps
        self.claimedFrom = claimedFrom
        self.claimedAt = claimedAt
        self.dueAt = dueAt
    }
}

/// Everything a worker commits for a run, in one transaction, fenced by its lease.
public struct RunCheckpoint: Sendable {
    /// What becomes of the run.
    public enum Transition: Sendable {
        /// The run goes on (a step was recorded).
        case none
        /// The run waits until `at` and is claimed again then; `attempt` is its new
        /// function-level attempt count and `error` the error that caused the wait.
        case retry(at: Int64, attempt: Int, error: ErrorRecord)
        /// The run completed with `output`.
        case complete(output: JSON)
        /// The run failed for good.
        case fail(error: ErrorRecord, attempt: Int)
        /// The run is cancelled by its own worker (past one of its timeouts).
        case cancel(error: ErrorRecord)
        /// The worker gives the run up unfinished (shutdown): it is queued again at once.
        case release
        /// The run sleeps until `until`, holding nothing but its rows.
        case sleep(until: Int64)
        /// The run waits for an event that matches one of `waits` (added to those it has),
        /// or until `until`, when it is claimed again.
        case wait(waits: [RunWait], until: Int64)
    }

    public let lease: RunLease
    public let now: Int64
    /// Steps to record, in order.
    public let steps: [StepWrite]
    /// Events to append in the same transaction: a `step.sendEvent`'s events, an invoke's
    /// event, or the system event of a run that ends.
    public let events: EventBatch?
    /// A run to start with the events of `events` that are accepted, in order (an invoke's
    /// one); at least one must be.
    public let startsRun: NewRun?
    public let transition: Transition

    /// Whether the run leaves `running` with this checkpoint (its concurrency slots free).
    public var leavesRunning: Bool {
        if case .none = transition { return false }
        return true
    }

    public init(lease: RunLease, now: Int64, steps: [StepWrite], events: EventBatch?, startsRun: NewRun? = nil, transition: Transition) {
        self.lease = lease
        self.now = now
        self.steps = steps
        self.events = events
        self.startsRun = startsRun
        self.transition = transition
    }

    /// A checkpoint recording at most one step, its output as recorded.
    public init(lease: RunLease, now: Int64, step: StepRecord?, events: EventBatch?, transition: Transition) {
        self.init(lease: lease, now: now, steps: step.map { [StepWrite($0)] } ?? [], events: events, transition: transition)
    }
}

/// A step for a checkpoint to record.
public struct StepWrite: Sendable, Hashable {
    /// Where the recorded output comes from.
    public enum Output: Sendable, Hashable {
        /// The record's own ``StepRecord/output``.
        case recorded
        /// The ids of the events the checkpoint appends, in order, as
        /// ``StepRecord/sentEventsOutput(_:)`` writes them: fixed in the transaction that
        /// appends the events, so that replay returns these same ids (invariant 3).
        case idsOfAppendedEvents
    }

    public let record: StepRecord
    public let output: Output
    /// Whether the step's waits end with this write (a wait or an invoke that got its event
    /// or timed out).
    public let endsWaits: Bool
    /// The attempt this write ends, to keep beside the record's last state; `nil` for a
    /// write that ends no attempt (a sleep or a wait beginning).
    public let attempt: StepAttempt?

    public init(_ record: StepRecord, output: Output = .recorded, endsWaits: Bool = false, attempt: StepAttempt? = nil) {
        self.record = record
        self.output = output
        self.endsWaits = endsWaits
        self.attempt = attempt
    }

    /// The record to store, once the checkpoint's appended events have their ids.
    @_spi(StoreImplementation)
    public func resolved(appended outcomes: [EventAppendOutcome]) -> StepRecord {
        switch output {
        case .recorded: return record
        case .idsOfAppendedEvents: return record.with(output: StepRecord.sentEventsOutput(outcomes.map(\.eventID)))
        }
    }
}

/// What a waiting run waits for: the next event named `eventName` whose value at
/// `matchPath` (a dotted path such as `data.userId`) is `matchValue`, accepted before
/// `expiresAt`.
public struct RunWait: Sendable, Hashable {
    /// What a matching event does.
    public enum Kind: String, Sendable, Hashable {
        /// It completes the waiting step and queues the run to resume at once.
        case step
        /// It cancels the run (a function's `cancelOn`), for the run's whole life.
        case cancel
    }

    public let kind: Kind
    /// The step that waits; for a cancellation, `cancelOn:` and its position in the list.
    public let stepKey: String
    public let eventName: String
    /// Where to look in an incoming event; `nil` when any event with the name matches.
    public let matchPath: String?
    /// The value the incoming event must have there.
    public let matchValue: JSON?
    /// A further condition on the incoming event, its `event` paths already bound.
    public let condition: EventCondition?
    public let expiresAt: Int64

    public init(
        kind: Kind = .step, stepKey: String, eventName: String, matchPath: String?, matchValue: JSON?, condition: EventCondition? = nil,
        expiresAt: Int64
    ) {
        self.kind = kind
        self.stepKey = stepKey
        self.eventName = eventName
        self.matchPath = matchPath
        self.matchValue = matchValue
        self.condition = condition
        self.expiresAt = expiresAt
    }
}
