/// Where Stepwise keeps events, functions, runs and steps.
///
/// The engine decides, a store persists: which functions an event triggers, what a wait
/// matches, the system events, cron ticks, retries and the format of step outputs are the
/// engine's (``TriggerIndex``, ``WaitMatching``, ``SystemEvent``, ``NewRun``,
/// ``ScheduleFiring``, ``StepWrite``), and a store that needs one of those decisions inside a
/// transaction asks those types for it. A store runs each requirement as one transaction
/// and answers queries.
///
/// Each requirement says what concurrent callers see, in any number of processes on the
/// store, so that a store with one writer (SQLite) and one with a pool of concurrent
/// transactions (PostgreSQL) keep the same contract. Nothing here promises an order across
/// processes: the in-process event bus delivers in commit order, per process only.
///
/// A requirement that throws ``LeaseLostError`` was refused by the fence and stored
/// nothing; any other error means the transaction did not commit. The conformance suite in
/// StepwiseTesting (`StoreConformance`) checks every rule here, racing callers included.
///
/// Stores shipped with Stepwise: ``SQLiteStore`` (the embedded default), and `InMemoryStore`
/// in StepwiseTesting (for tests), written outside this module against its public API alone.
public protocol Store: Sendable {
    /// Appends a validated batch in one transaction, dropping duplicates, and starts the runs
    /// the accepted events trigger and resolves the waits they match, in the same transaction.
    ///
    /// For each event, in order: if it has a dedupe id that an event of the same environment
    /// was accepted with less than `dedupeWindow` before `receivedAt` (or earlier in this
    /// batch), the outcome is ``EventAppendOutcome/duplicate(of:)`` with that event's id and
    /// nothing is stored; otherwise the event is stored with a new ``EventID`` (or its seeded
    /// one, see ``EventBatch/idSeed``) and the outcome is ``EventAppendOutcome/accepted(_:)``.
    /// Then, for an accepted event: for each of ``TriggerIndex/targets(for:)``, the run
    /// ``NewRun/admitted(id:target:by:)`` gives (inserted as every run is, see below), or the
    /// ``AdmissionRecord`` it gives instead, kept for ``admissions(eventID:environment:)``;
    /// and each of
    /// ``WaitMatching/resolutions(for:candidates:)`` carried out (a cancellation appending its
    /// ``SystemEvent/cancelled(run:triggeringEvent:reason:cancelledBy:at:)``, which is handled
    /// like any appended event).
    ///
    /// Either every accepted event, with its runs and resolutions, is stored or, when the call
    /// throws, none is.
    ///
    /// Every run a store inserts, by any requirement, keeps its ``NewRun/flow``:
    /// - with ``RunFlow/rateLimit`` `L`, it is inserted only if fewer than `L.limit` runs of
    ///   its function with the rate key `L.key` were created in the `L.periodMilliseconds`
    ///   before its `createdAt`; otherwise ``AdmissionRecord/turnedAway(eventID:run:by:)`` is
    ///   kept instead;
    /// - with ``RunFlow/throttle`` `T`, it is inserted due at the start
    ///   ``ThrottleSchedule/reserve(tat:due:throttle:)`` gives for `T.identity`'s state, which
    ///   the store keeps.
    ///
    /// Concurrent callers: of two appends racing with one dedupe id in one environment, exactly
    /// one stores its event; the other's outcome is a duplicate of it. Two appends under one
    /// seed store its events once. Appends racing on one rate key admit no more than its
    /// limit; on one throttle key, each reserves its own start.
    func append(_ batch: EventBatch) async throws -> [EventAppendOutcome]

    /// The event with this id in this environment, or `nil`.
    func event(id: EventID, environment: String) async throws -> StoredEvent?

    /// A page of events, newest first; rows that cannot be read are listed in
    /// ``EventPage/unreadable`` instead of failing the page.
    func events(_ query: EventQuery) async throws -> EventPage

    // MARK: Functions and runs

    /// Stores an app's functions, their triggers, settings and schedules, so that
    /// ``append(_:)`` in any process creates their runs. A schedule the store already holds
    /// keeps its next tick; a new one starts at its ``ScheduleRegistration/firstTickAt``.
    ///
    /// Concurrent callers: registrations of one app are applied whole, one after the other.
    func register(_ registration: FunctionRegistration) async throws

    /// The functions registered in `environment`, by app and id.
    func functions(environment: String) async throws -> [FunctionRecord]

    /// Claims up to `request.limit` due runs, in one transaction: each gets a new lease
    /// (its token one higher than any before), and comes with its event, its recorded steps
    /// and the status it was claimed out of. A run is due when it is queued, sleeping or
    /// waiting and its time has come, or running with a lease that ran out (its worker died or
    /// stalled). The earliest due come first.
    ///
    /// A run with concurrency keys (``RunFlow/concurrency``) claimed out of any status but
    /// `running` must fit each key: fewer `running` runs with that key's identity than its
    /// limit, counting the runs this claim takes. A run that does not fit is parked instead:
    /// not due (``RunRecord/availableAt`` `nil`, ``RunRecord/parkedOn`` the full key) until a
    /// run with that key leaves `running` (a checkpoint's transition, a cancel), when the store
    /// lets go of as many runs parked on the key as it has room for, by their due time less
    /// their priority (``RunFlow/priorityMilliseconds``), then by insertion; each becomes due
    /// at its due time or the caller's `now`, whichever is later.
    ///
    /// Keys take turns: a key has at most ``RunFlow/Concurrency/turn`` queued runs due (not
    /// parked) at once. A run inserted while its key's turn is due, or while runs are parked on
    /// the key, is inserted parked. When a claim takes queued runs of a key, or a queued due run
    /// of it ends unclaimed, the store lets go of parked runs of the key up to both its room
    /// and its turn, due as above; a claim then reads the due runs again (up to a bound), so
    /// that a key alone still fills it.
    ///
    /// A run whose event or steps cannot be read is not returned: it fails in the claim's
    /// transaction, alone, with the error `Stepwise.UnreadableRun`, and the others are claimed
    /// (DESIGN.md, invariant 7). One bad row must not keep every run of an app queued.
    ///
    /// Concurrent callers: N claimers racing over the same due runs claim each run once; a
    /// run is held by one lease at a time; claimers and commits racing on one concurrency key
    /// never leave more runs `running` with it than its limit, nor a parked run behind a key
    /// with room.
    func claim(_ request: ClaimRequest) async throws -> [ClaimedRun]

    /// Commits steps, events, a started run and a run transition in one transaction, if and
    /// only if `checkpoint.lease` is still the run's current lease and the run is running;
    /// otherwise throws ``LeaseLostError`` and stores nothing.
    ///
    /// The events are appended as ``append(_:)`` appends them (runs, waits), then
    /// ``RunCheckpoint/startsRun`` is inserted with the one event appended, then each step is
    /// written as ``StepWrite/resolved(appended:)`` gives it (dropping its waits when
    /// ``StepWrite/endsWaits``, keeping its ``StepWrite/attempt``), then the transition. A run that ends drops all its waits.
    ///
    /// - Returns: the outcomes of `checkpoint.events`, in order.
    ///
    /// Concurrent callers: of two commits under one lease token only as many succeed as the
    /// run stays `running`; a commit under a token another claim moved on throws
    /// ``LeaseLostError``.
    func commit(_ checkpoint: RunCheckpoint) async throws -> [EventAppendOutcome]

    /// Extends the leases still held until `until`; returns the ones another claim took over.
    /// A lease its holder gave up by committing a transition is not lost: the worker lists its
    /// leases before renewing them, and runs checkpoint in between.
    func renew(_ leases: [RunLease], until: Int64) async throws -> [RunLease]

    /// The earliest time at which a run of these functions is or becomes due, or a schedule
    /// of theirs ticks, if any.
    func nextDueTime(environment: String, appID: String, functionIDs: [String]) async throws -> Int64?

    /// The run with this id in this environment, or `nil`.
    func run(id: RunID, environment: String) async throws -> RunRecord?

    /// Runs, newest first.
    func runs(_ query: RunQuery) async throws -> [RunRecord]

    /// The runs `running` under a concurrency key (``RunFlow/Concurrency/identity``), in any
    /// environment, oldest first, at most `limit`: who holds the slots a parked run waits for.
    func runs(holdingConcurrencyKey identity: String, limit: Int) async throws -> [RunRecord]

    /// A run's recorded steps, in the order they were first recorded.
    func steps(runID: RunID) async throws -> [StepRecord]

    /// The attempts of a run's steps that checkpoints recorded apart (``StepWrite/attempt``: the
    /// engine asks for them for a step that failed at least once), by step in the order the
    /// steps were first recorded, then by number.
    func attempts(runID: RunID) async throws -> [StepAttempt]

    /// The schedules of these functions whose next tick is at or before `now`: a read, for
    /// the engine to decide the firings.
    func dueSchedules(environment: String, appID: String, functionIDs: [String], now: Int64) async throws -> [ScheduleRecord]

    /// Fires schedule ticks, in one transaction: for each firing whose schedule is still at
    /// ``ScheduleFiring/schedule``'s `nextAt`, moves it to ``ScheduleFiring/nextAt``, appends
    /// its event as ``append(_:)`` does, and inserts its run with that event. A firing whose
    /// schedule moved on already is skipped.
    ///
    /// - Returns: how many ticks were fired.
    ///
    /// Concurrent callers: of any number of workers firing one tick, exactly one starts its
    /// run.
    func fire(_ firings: [ScheduleFiring], environment: String, afterCommit: (@Sendable ([StoredEvent]) -> Void)?) async throws -> Int

    /// Cancels a run that has not ended, in one transaction: it ends `cancelled` with
    /// `reason` as its error, its waits are dropped, and `events` (its
    /// `stepwise/function.cancelled`) are appended. A worker running it can commit nothing
    /// more for it.
    ///
    /// - Returns: whether the run was cancelled; `false` when it had already ended or does
    ///   not exist in `environment`.
    ///
    /// Concurrent callers: of a cancel racing another cancel or the run's own end, one wins;
    /// the events of a cancel that returns `false` are not appended.
    func cancel(runID: RunID, environment: String, now: Int64, reason: ErrorRecord, events: EventBatch?) async throws -> Bool

    /// Queues a new run of the same function on the same event as the run `runID`, due at
    /// `now`, whatever became of the first (``NewRun/rerun(id:of:settings:event:now:)``); its
    /// ``RunRecord/rerunOf`` names the first.
    ///
    /// - Returns: the new run; `nil` when no run `runID` exists in `environment`.
    /// - Throws: ``RerunError`` when the run's function is no longer registered (no worker
    ///   would ever claim the new run).
    func rerun(runID: RunID, environment: String, now: Int64) async throws -> RunRecord?

    /// Starts a run of the function `functionID` of app `appID`, registered in the batch's
    /// environment, from outside any run (``StepwiseClient/invoke(_:data:app:)``: the REST API,
    /// the dashboard, the CLI), in one transaction: `batch`, whose one event is its
    /// `stepwise/function.invoked` with no dedupe id, is appended as ``append(_:)`` appends it
    /// (the runs it triggers, the waits it matches), then the run
    /// ``NewRun/triggered(id:appID:functionID:settings:by:)`` gives for that event and the
    /// function's settings as stored is inserted, due at once, whatever the function's triggers.
    ///
    /// - Returns: the new run, queued.
    /// - Throws: ``InvokeError`` when no such function is registered; nothing is stored then.
    ///
    /// Concurrent callers: each invoke stores its own event and run.
    func invoke(appID: String, functionID: String, batch: EventBatch) async throws -> RunRecord

    /// Why the accepted event `eventID` started no run of functions its name triggers (the
    /// trigger's `if`, a rate limit, an idempotency key, an expression that failed), in the
    /// order decided; empty when it started a run of each, or does not exist.
    func admissions(eventID: EventID, environment: String) async throws -> [AdmissionRecord]

    /// Whether `environment` is in use: an app registered functions in it, or events were
    /// stored in it.
    func environmentExists(_ environment: String) async throws -> Bool

    /// Every environment in use (see ``environmentExists(_:)``), sorted by the bytes of their
    /// names: a read of one index entry per environment, not of every event, since a store
    /// holds few environments and millions of events.
    func environments() async throws -> [String]
}

/// Why a function cannot be invoked.
public struct InvokeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The function that was to be invoked.
    public let functionID: String
    /// Its app, when the caller named one.
    public let appID: String?
    /// The environment it was looked for in.
    public let environment: String
    /// Whether more than one app registers a function with this id, so the caller must name the app.
    public let isAmbiguous: Bool

    /// Thrown by a store's invoke, which finds the function is not registered, and by the
    /// client; public so that stores outside this module refuse with the same error.
    public init(functionID: String, appID: String?, environment: String, isAmbiguous: Bool = false) {
        self.functionID = functionID
        self.appID = appID
        self.environment = environment
        self.isAmbiguous = isAmbiguous
    }

    /// The error in words.
    public var description: String {
        if isAmbiguous {
            return "more than one app registers a function '\(functionID)' in environment '\(environment)': name the app"
        }
        let app = appID.map { " of app '\($0)'" } ?? ""
        return "no function '\(functionID)'\(app) is registered in environment '\(environment)'"
    }
}

/// Why a run cannot be rerun.
public struct RerunError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The run that was to be rerun.
    public let runID: RunID
    /// Its function, which no app registers any more.
    public let functionID: String

    /// Thrown by a store's rerun, which finds the function gone; public so that stores
    /// outside this module refuse the rerun with the same error.
    public init(runID: RunID, functionID: String) {
        self.runID = runID
        self.functionID = functionID
    }

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

    /// The event stored, when it was; `nil` for a duplicate.
    public var accepted: StoredEvent? {
        if case .accepted(let event) = self { return event }
        return nil
    }

    /// The id `send` answers with for this event: its own, or the first event's.
    public var eventID: EventID {
        switch self {
        case .accepted(let event): return event.id
        case .duplicate(let id): return id
        }
    }
}
