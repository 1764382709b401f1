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
    public var description: String { "the lease on run \(runID) was lost; nothing was committed" }
}

/// A request to claim runs that are due.
public struct ClaimRequest: Sendable {
    public let environment: String
    public let appID: String
    /// Only runs of these functions: the ones the claiming worker can execute.
    public let functionIDs: [String]
    public let owner: String
    public let now: Int64
    /// How long the lease lasts unless renewed, in milliseconds.
    public let leaseDuration: Int64
    public let limit: Int

    public init(environment: String, appID: String, functionIDs: [String], owner: String, now: Int64, leaseDuration: Int64, limit: Int) {
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
    public let event: StoredEvent
    /// The run's recorded steps, by key.
    public let steps: [String: StepRecord]

    public init(run: RunRecord, lease: RunLease, event: StoredEvent, steps: [String: StepRecord]) {
        self.run = run
        self.lease = lease
        self.event = event
        self.steps = steps
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
        /// The worker gives the run up unfinished (shutdown): it is queued again at once.
        case release
        /// The run sleeps until `until`, holding nothing but its rows.
        case sleep(until: Int64)
        /// The run waits for an event that matches `wait`, or until `wait.expiresAt`.
        case wait(RunWait)
        /// The run goes on waiting for the waits it registered before, until `until` at most.
        case keepWaiting(until: Int64)
        /// The run starts a run of another function with the (one) event in the checkpoint's
        /// `events`, and waits for it to end.
        case invoke(RunInvocation)
    }

    public let lease: RunLease
    public let now: Int64
    /// A step to record, if any.
    public let step: StepRecord?
    /// Events to append in the same transaction: a `step.sendEvent`'s events (whose ids then
    /// become the step's output) or the system event of a run that ends.
    public let events: EventBatch?
    public let transition: Transition

    public init(lease: RunLease, now: Int64, step: StepRecord?, events: EventBatch?, transition: Transition) {
        self.lease = lease
        self.now = now
        self.step = step
        self.events = events
        self.transition = transition
    }
}

/// What a waiting run waits for: the next event named `eventName` whose value at
/// `matchPath` (a dotted path such as `data.userId`) is `matchValue`, accepted before
/// `expiresAt`.
public struct RunWait: Sendable, Hashable {
    /// The step that waits.
    public let stepKey: String
    public let eventName: String
    /// Where to look in an incoming event; `nil` when any event with the name matches.
    public let matchPath: String?
    /// The value the incoming event must have there.
    public let matchValue: JSON?
    /// A further condition on the incoming event, its `event` paths already bound.
    public let condition: EventCondition?
    public let expiresAt: Int64

    public init(stepKey: String, eventName: String, matchPath: String?, matchValue: JSON?, condition: EventCondition? = nil, expiresAt: Int64) {
        self.stepKey = stepKey
        self.eventName = eventName
        self.matchPath = matchPath
        self.matchValue = matchValue
        self.condition = condition
        self.expiresAt = expiresAt
    }
}

/// A run started by `step.invoke`, and the wait of the invoking step for its end.
public struct RunInvocation: Sendable, Hashable {
    /// The invoking step.
    public let stepKey: String
    public let appID: String
    public let functionID: String
    /// When the invoking step stops waiting and fails with a timeout.
    public let expiresAt: Int64

    public init(stepKey: String, appID: String, functionID: String, expiresAt: Int64) {
        self.stepKey = stepKey
        self.appID = appID
        self.functionID = functionID
        self.expiresAt = expiresAt
    }
}
