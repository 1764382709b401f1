import Foundation
import Logging
import Stepwise
import StepwisePostgres
import Synchronization

/// A ``PostgresStore`` in a schema of its own that starts itself on first use, for the
/// engine's tests, which make their stores synchronously and never run a service: each
/// requirement first starts the store's `run()` (once) and awaits its readiness, then asks
/// the store.
///
/// The store runs until the test process exits, and its schema is left behind: this is for
/// a throwaway server (`.ci/run` starts one, with `max_connections` raised for the hundred
/// stores a run makes, each of up to two connections and a listener).
final class PostgresTestStore: Store, StoreChangeFeed {
    private let base: PostgresStore
    private let started = Mutex(false)

    init() throws {
        var configuration = try PostgresStore.Configuration(url: ProcessInfo.processInfo.environment["STEPWISE_TEST_POSTGRES_URL"] ?? "")
        configuration.schema = "engine_\(UInt64.random(in: 0...UInt64.max) % 1_000_000_000_000)"
        configuration.poolSize = 2
        var logger = Logger(label: "stepwise.tests.postgres")
        logger.logLevel = .critical
        base = try PostgresStore(configuration, logger: logger)
    }

    private func ready() async throws {
        let isFirst = started.withLock { started in
            defer { started = true }
            return !started
        }
        if isFirst {
            // Unstructured on purpose: the store outlives the test that made it (see above).
            Task { [base] in try await base.run() }
        }
        try await base.waitUntilReady()
    }

    func changes() -> AsyncStream<StoreChange> { base.changes() }

    func append(_ batch: EventBatch) async throws -> [EventAppendOutcome] {
        try await ready()
        return try await base.append(batch)
    }

    func event(id: EventID, environment: String) async throws -> StoredEvent? {
        try await ready()
        return try await base.event(id: id, environment: environment)
    }

    func events(_ query: EventQuery) async throws -> EventPage {
        try await ready()
        return try await base.events(query)
    }

    func register(_ registration: FunctionRegistration) async throws {
        try await ready()
        try await base.register(registration)
    }

    func functions(environment: String) async throws -> [FunctionRecord] {
        try await ready()
        return try await base.functions(environment: environment)
    }

    func claim(_ request: ClaimRequest) async throws -> [ClaimedRun] {
        try await ready()
        return try await base.claim(request)
    }

    func commit(_ checkpoint: RunCheckpoint) async throws -> [EventAppendOutcome] {
        try await ready()
        return try await base.commit(checkpoint)
    }

    func renew(_ leases: [RunLease], until: Int64) async throws -> [RunLease] {
        try await ready()
        return try await base.renew(leases, until: until)
    }

    func nextDueTime(environment: String, appID: String, functionIDs: [String]) async throws -> Int64? {
        try await ready()
        return try await base.nextDueTime(environment: environment, appID: appID, functionIDs: functionIDs)
    }

    func run(id: RunID, environment: String) async throws -> RunRecord? {
        try await ready()
        return try await base.run(id: id, environment: environment)
    }

    func runs(_ query: RunQuery) async throws -> [RunRecord] {
        try await ready()
        return try await base.runs(query)
    }

    func runs(holdingConcurrencyKey identity: String, limit: Int) async throws -> [RunRecord] {
        try await ready()
        return try await base.runs(holdingConcurrencyKey: identity, limit: limit)
    }

    func steps(runID: RunID) async throws -> [StepRecord] {
        try await ready()
        return try await base.steps(runID: runID)
    }

    func attempts(runID: RunID) async throws -> [StepAttempt] {
        try await ready()
        return try await base.attempts(runID: runID)
    }

    func dueSchedules(environment: String, appID: String, functionIDs: [String], now: Int64) async throws -> [ScheduleRecord] {
        try await ready()
        return try await base.dueSchedules(environment: environment, appID: appID, functionIDs: functionIDs, now: now)
    }

    func fire(_ firings: [ScheduleFiring], environment: String, afterCommit: (@Sendable ([StoredEvent]) -> Void)?) async throws -> Int {
        try await ready()
        return try await base.fire(firings, environment: environment, afterCommit: afterCommit)
    }

    func cancel(runID: RunID, environment: String, now: Int64, reason: ErrorRecord, events: EventBatch?) async throws -> Bool {
        try await ready()
        return try await base.cancel(runID: runID, environment: environment, now: now, reason: reason, events: events)
    }

    func rerun(runID: RunID, environment: String, now: Int64) async throws -> RunRecord? {
        try await ready()
        return try await base.rerun(runID: runID, environment: environment, now: now)
    }

    func admissions(eventID: EventID, environment: String) async throws -> [AdmissionRecord] {
        try await ready()
        return try await base.admissions(eventID: eventID, environment: environment)
    }

    func environmentExists(_ environment: String) async throws -> Bool {
        try await ready()
        return try await base.environmentExists(environment)
    }

    func invoke(appID: String, functionID: String, batch: EventBatch) async throws -> RunRecord {
        try await ready()
        return try await base.invoke(appID: appID, functionID: functionID, batch: batch)
    }

    func environments() async throws -> [String] {
        try await ready()
        return try await base.environments()
    }
}

/// The capabilities the PostgreSQL store has beyond `Store`, passed through as the rest is,
/// so that the engine's tests of re-encryption and pruning run on it too.
extension PostgresTestStore: StoreUserRewrite, StoreRetention {
    func storedUsers(environment: String, after: EventID?, limit: Int) async throws -> [StoredUser] {
        try await ready()
        return try await base.storedUsers(environment: environment, after: after, limit: limit)
    }

    func rewriteUsers(_ rewrites: [UserRewrite], environment: String) async throws -> Int {
        try await ready()
        return try await base.rewriteUsers(rewrites, environment: environment)
    }

    func prune(_ request: PruneRequest) async throws -> PruneResult {
        try await ready()
        return try await base.prune(request)
    }

    func sizes(environment: String) async throws -> StoreSizes {
        try await ready()
        return try await base.sizes(environment: environment)
    }
}
