import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing
@testable import Stepwise
import StepwiseTesting

/// A store that serves nothing until its `run()` has started it, as a pooled store would:
/// every call before then fails with ``StoreNotStartedError``.
final class StartedStore: StoreLifecycle {
    let base: SQLiteStore
    private let started = Atomic<Bool>(false)
    /// Calls made before the store was started.
    let earlyCalls = Atomic<Int>(0)

    init(base: SQLiteStore) { self.base = base }

    func run() async throws {
        started.store(true, ordering: .releasing)
        try? await gracefulShutdown()
        started.store(false, ordering: .releasing)
    }

    func waitUntilReady() async throws {
        while !started.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(5)) }
    }

    private func gate() throws {
        guard started.load(ordering: .acquiring) else {
            earlyCalls.add(1, ordering: .relaxed)
            throw StoreNotStartedError(store: "StartedStore")
        }
    }

    func append(_ batch: EventBatch) async throws -> [EventAppendOutcome] { try gate(); return try await base.append(batch) }
    func event(id: EventID, environment: String) async throws -> StoredEvent? { try gate(); return try await base.event(id: id, environment: environment) }
    func events(_ query: EventQuery) async throws -> EventPage { try gate(); return try await base.events(query) }
    func register(_ registration: FunctionRegistration) async throws { try gate(); try await base.register(registration) }
    func functions(environment: String) async throws -> [FunctionRecord] { try gate(); return try await base.functions(environment: environment) }
    func claim(_ request: ClaimRequest) async throws -> [ClaimedRun] { try gate(); return try await base.claim(request) }
    func commit(_ checkpoint: RunCheckpoint) async throws -> [EventAppendOutcome] { try gate(); return try await base.commit(checkpoint) }
    func renew(_ leases: [RunLease], until: Int64) async throws -> [RunLease] { try gate(); return try await base.renew(leases, until: until) }
    func nextDueTime(environment: String, appID: String, functionIDs: [String]) async throws -> Int64? {
        try gate()
        return try await base.nextDueTime(environment: environment, appID: appID, functionIDs: functionIDs)
    }
    func run(id: RunID, environment: String) async throws -> RunRecord? { try gate(); return try await base.run(id: id, environment: environment) }
    func runs(_ query: RunQuery) async throws -> [RunRecord] { try gate(); return try await base.runs(query) }
    func runs(holdingConcurrencyKey identity: String, limit: Int) async throws -> [RunRecord] {
        try gate()
        return try await base.runs(holdingConcurrencyKey: identity, limit: limit)
    }
    func steps(runID: RunID) async throws -> [StepRecord] { try gate(); return try await base.steps(runID: runID) }
    func attempts(runID: RunID) async throws -> [StepAttempt] { try gate(); return try await base.attempts(runID: runID) }
    func dueSchedules(environment: String, appID: String, functionIDs: [String], now: Int64) async throws -> [ScheduleRecord] {
        try gate()
        return try await base.dueSchedules(environment: environment, appID: appID, functionIDs: functionIDs, now: now)
    }
    func fire(_ firings: [ScheduleFiring], environment: String, afterCommit: (@Sendable ([StoredEvent]) -> Void)?) async throws -> Int {
        try gate()
        return try await base.fire(firings, environment: environment, afterCommit: afterCommit)
    }
    func cancel(runID: RunID, environment: String, now: Int64, reason: ErrorRecord, events: EventBatch?) async throws -> Bool {
        try gate()
        return try await base.cancel(runID: runID, environment: environment, now: now, reason: reason, events: events)
    }
    func rerun(runID: RunID, environment: String, now: Int64) async throws -> RunRecord? {
        try gate()
        return try await base.rerun(runID: runID, environment: environment, now: now)
    }
    func admissions(eventID: EventID, environment: String) async throws -> [AdmissionRecord] {
        try gate()
        return try await base.admissions(eventID: eventID, environment: environment)
    }
    func environmentExists(_ environment: String) async throws -> Bool { try gate(); return try await base.environmentExists(environment) }
    func invoke(appID: String, functionID: String, batch: EventBatch) async throws -> RunRecord {
        try gate()
        return try await base.invoke(appID: appID, functionID: functionID, batch: batch)
    }
    func environments() async throws -> [String] { try gate(); return try await base.environments() }
}

@Suite("Store lifecycle")
struct StoreLifecycleTests {
    @Test("a store used before it started says so, and what to do")
    func notStarted() async throws {
        let client = StepwiseClient(id: "test-app", store: StartedStore(base: try SQLiteStore(.init(path: nil))))
        do {
            try await client.send(Event(name: "early"))
            Issue.record("a store that was never started accepted an event")
        } catch let error as StoreNotStartedError {
            #expect(error.isTransient)
            #expect(error.description.contains("ServiceGroup"))
        }
    }

    @Test("a worker started beside its store waits until the store is ready, then runs")
    func workerWaitsForTheStore() async throws {
        let store = StartedStore(base: try SQLiteStore(.init(path: nil)))
        let client = StepwiseClient(id: "test-app", store: store)
        try client.createFunction(id: "echo", trigger: .event("echo")) { event, step in
            try await step.run("echo") { event.data }
        }
        let worker = client.worker(.init(pollInterval: .seconds(3600)))
        let finished = client.subscribe(to: "stepwise/function.finished")
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The worker first, as a ServiceGroup may well start it.
                group.addTask { try await worker.run() }
                try await Task.sleep(for: .milliseconds(200))
                #expect(store.earlyCalls.load(ordering: .relaxed) == 0, "the worker called a store that was not started")
                group.addTask { try await store.run() }
                try await store.waitUntilReady()
                try await client.registerFunctions()
                try await client.send(Event(name: "echo", data: ["hello": "world"]))
                var iterator = finished.makeAsyncIterator()
                let event = await iterator.next()
                #expect(event?.data["output"] == ["hello": "world"])
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }
}
