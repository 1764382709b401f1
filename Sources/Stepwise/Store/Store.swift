/// Where Stepwise keeps events (and, as the engine grows, functions, runs and steps).
///
/// The protocol is small and each requirement is one transaction: a store appends a batch
/// atomically, and a caller never composes transactions out of smaller calls. That is what
/// lets the SQLite store commit the calls of concurrent callers together, and what a
/// PostgreSQL store can implement with one transaction per call.
///
/// Stores shipped with Stepwise: ``SQLiteStore`` (the embedded default).
public protocol Store: Sendable {
    /// Appends a validated batch in one transaction, dropping duplicates.
    ///
    /// For each event, in order: if it has a dedupe id that an event of the same environment
    /// was accepted with less than `dedupeWindow` before `receivedAt` (or earlier in this
    /// batch), the outcome is ``EventAppendOutcome/duplicate(of:)`` with that event's id and
    /// nothing is stored; otherwise the event is stored with a new ``EventID`` and the
    /// outcome is ``EventAppendOutcome/accepted(_:)``.
    ///
    /// Either every accepted event is stored or, when the call throws, none is.
    func append(_ batch: EventBatch) async throws -> [EventAppendOutcome]

    /// The event with this id in this environment, or `nil`.
    func event(id: EventID, environment: String) async throws -> StoredEvent?

    /// A page of events, newest first; rows that cannot be read are listed in
    /// ``EventPage/unreadable`` instead of failing the page.
    func events(_ query: EventQuery) async throws -> EventPage

    // MARK: Functions and runs

    /// Stores an app's functions and their triggers, so that ``append(_:)`` in any process
    /// creates their runs: one run per function whose trigger matches each accepted event,
    /// in the same transaction as the event.
    func register(_ registration: FunctionRegistration) async throws

    /// The functions registered in `environment`, by app and id.
    func functions(environment: String) async throws -> [FunctionRecord]

    /// Claims up to `request.limit` due runs, in one transaction: each gets a new lease
    /// (its token one higher than any before), and comes with its event and recorded steps.
    /// A run is due when it is queued and its time has come, or running with a lease that ran
    /// out (its worker died or stalled).
    ///
    /// A run whose event or steps cannot be read is not returned: it fails in the claim's
    /// transaction, alone, with the error `Stepwise.UnreadableRun`, and the others are claimed
    /// (DESIGN.md, invariant 7). One bad row must not keep every run of an app queued.
    func claim(_ request: ClaimRequest) async throws -> [ClaimedRun]

    /// Commits a step, events and a run transition in one transaction, if and only if
    /// `checkpoint.lease` is still the run's current lease; otherwise throws
    /// ``LeaseLostError`` and stores nothing.
    ///
    /// - Returns: the outcomes of `checkpoint.events`, in order.
    func commit(_ checkpoint: RunCheckpoint) async throws -> [EventAppendOutcome]

    /// Extends the leases still held until `until`; returns the ones another claim took over.
    /// A lease its holder gave up by committing a transition is not lost: the worker lists its
    /// leases before renewing them, and runs checkpoint in between.
    func renew(_ leases: [RunLease], until: Int64) async throws -> [RunLease]

    /// The earliest time at which a run of these functions is or becomes due, if any is waiting.
    func nextDueTime(environment: String, appID: String, functionIDs: [String]) async throws -> Int64?

    /// The run with this id in this environment, or `nil`.
    func run(id: RunID, environment: String) async throws -> RunRecord?

    /// Runs, newest first.
    func runs(_ query: RunQuery) async throws -> [RunRecord]

    /// A run's recorded steps, in the order they were first recorded.
    func steps(runID: RunID) async throws -> [StepRecord]

    /// Starts one run for every schedule of these functions whose tick is due at `now`, and
    /// moves each schedule to its next tick after `now`, in one transaction: so one run per
    /// tick across every worker, and after downtime one run for all the ticks missed.
    ///
    /// - Returns: how many runs were started.
    func fireSchedules(environment: String, appID: String, functionIDs: [String], now: Int64, afterCommit: (@Sendable ([StoredEvent]) -> Void)?) async throws -> Int

    /// Cancels a run that has not ended, in one transaction: it ends `cancelled` with
    /// `reason` as its error, its waits are dropped, and `events` (its
    /// `stepwise/function.cancelled`) are appended. A worker
    /// running it can commit nothing more for it.
    ///
    /// - Returns: whether the run was cancelled; `false` when it had already ended or does
    ///   not exist in `environment`.
    func cancel(runID: RunID, environment: String, now: Int64, reason: ErrorRecord, events: EventBatch?) async throws -> Bool

    /// Queues a new run of the same function on the same event as the run `runID`, due at
    /// `now`, whatever became of the first; its ``RunRecord/rerunOf`` names the first.
    ///
    /// - Returns: the new run; `nil` when no run `runID` exists in `environment`.
    /// - Throws: ``RerunError`` when the run's function is no longer registered (no worker
    ///   would ever claim the new run).
    func rerun(runID: RunID, environment: String, now: Int64) async throws -> RunRecord?

    /// Whether `environment` is in use: an app registered functions in it, or events were
    /// stored in it.
    func environmentExists(_ environment: String) async throws -> Bool
}

/// Why a run cannot be rerun.
public struct RerunError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The run that was to be rerun.
    public let runID: RunID
    /// Its function, which no app registers any more.
    public let functionID: String

    /// The error in words.
    public var description: String {
        "run \(runID) cannot be rerun: its function '\(functionID)' is no longer registered by any app"
    }
}

/// A batch of validated events for ``Store/append(_:)``.
public struct EventBatch: Sendable {
    public let environment: String
    public let events: [NewEvent]
    /// When the batch was received, in milliseconds since the epoch: the events' receive
    /// time, the time their ids encode, and the end of the dedupe window.
    public let receivedAt: Int64
    /// How long a dedupe id holds, in milliseconds.
    public let dedupeWindow: Int64
    /// Called once the batch has committed, with the events accepted, before `append`
    /// returns. Stores call it in commit order when they can, so the event bus delivers
    /// events in the order they were stored.
    public let afterCommit: (@Sendable ([StoredEvent]) -> Void)?
    /// Where the events' ids come from when the sender chose them (a retried Event API
    /// request): the event at index `i` gets `idSeed.eventID(at: i)`. An event whose id is
    /// already stored, with the same environment, name and data, is a duplicate of itself and
    /// not stored again; with others, the append throws ``EventIDSeedConflict``.
    public let idSeed: EventIDSeed?

    public init(
        environment: String, events: [NewEvent], receivedAt: Int64, dedupeWindow: Int64, idSeed: EventIDSeed? = nil,
        afterCommit: (@Sendable ([StoredEvent]) -> Void)? = nil
    ) {
        self.environment = environment
        self.events = events
        self.receivedAt = receivedAt
        self.dedupeWindow = dedupeWindow
        self.idSeed = idSeed
        self.afterCommit = afterCommit
    }
}

/// What became of one event of an appended batch.
public enum EventAppendOutcome: Sendable, Hashable {
    /// The event was stored.
    case accepted(StoredEvent)
    /// The event repeated the dedupe id of the event with this id, and was dropped.
    case duplicate(of: EventID)

    /// The id `send` answers with for this event: its own, or the first event's.
    public var eventID: EventID {
        switch self {
        case .accepted(let event): return event.id
        case .duplicate(let id): return id
        }
    }
}
