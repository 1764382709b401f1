import Foundation
import PostgresNIO
import Stepwise
@testable import StepwisePostgres
import Testing

@Suite("PostgreSQL store start-up", .enabled(if: PostgresTestServer.enabled))
struct PostgresStartupTests {
    @Test("a server that is not there fails run() within seconds, naming host and port, and its waiters with it")
    func unreachableServer() async throws {
        var configuration = try PostgresTestServer.configuration()
        // A port nothing listens on: bound and closed again, so it was free a moment ago.
        configuration.endpoint = .tcp(host: "127.0.0.1", port: 1)
        let store = try PostgresStore(configuration, logger: PostgresTestServer.logger)
        let started = ContinuousClock.now
        let waiting = Task { try await store.waitUntilReady() }
        let error = await #expect(throws: PostgresStoreError.self) { try await store.run() }
        // Seconds, not a hang: 20 s allows for the whole suite's parallel tests on 2 cores,
        // which stretched a 2 s connect timeout past 13 s there.
        #expect(ContinuousClock.now - started < .seconds(20))
        guard case .unreachable(let server, _)? = error else {
            Issue.record("expected unreachable, got \(String(describing: error))")
            return
        }
        #expect(server == "127.0.0.1:1")
        #expect(error?.description.contains("127.0.0.1:1") == true)
        await #expect(throws: PostgresStoreError.self) { try await waiting.value }
    }

    @Test("a database that does not exist fails run() at once with the server's reason")
    func missingDatabase() async throws {
        var configuration = try PostgresTestServer.configuration()
        configuration.database = "no_such_database_\(UInt32.random(in: 0...UInt32.max))"
        let store = try PostgresStore(configuration, logger: PostgresTestServer.logger)
        let started = ContinuousClock.now
        let error = await #expect(throws: PostgresStoreError.self) { try await store.run() }
        // Seconds, not a hang: 20 s allows for the whole suite's parallel tests on 2 cores,
        // which stretched a 2 s connect timeout past 13 s there.
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect(error?.description.contains("does not exist") == true, "\(String(describing: error))")
    }

    @Test("waiting for a store that is never started ends when the waiting task is cancelled")
    func waitingIsCancellable() async throws {
        let store = try PostgresStore(try PostgresTestServer.configuration(), logger: PostgresTestServer.logger)
        let waiter = Task { try await store.waitUntilReady() }
        try await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
    }

    @Test("a run whose step output was changed behind Stepwise's back fails alone at its claim; the others are claimed")
    func unreadableRunFailsAlone() async throws {
        try await PostgresTestServer.withStore { store in
            let client = StepwiseClient(id: "unreadable-app", store: store)
            try client.createFunction(id: "two-steps", trigger: .event("unreadable/go")) { _, step in
                _ = try await step.run("first") { 1 }
                try await step.sleep("pause", for: .seconds(1))
            }
            try await client.registerFunctions()
            try await client.send([Event(name: "unreadable/go"), Event(name: "unreadable/go")])
            let first = try await store.claim(ClaimRequest(
                appID: "unreadable-app", functionIDs: ["two-steps"], owner: "test", now: Int64.max / 4, leaseDuration: 1000, limit: 10))
            #expect(first.count == 2)
            // Record a step for each, then corrupt one of them.
            for run in first {
                _ = try await store.commit(RunCheckpoint(
                    lease: run.lease, now: Int64.max / 4,
                    step: StepRecord(
                        runID: run.run.id, key: "first", stepID: "first", kind: .run, status: .completed, output: 1, error: nil,
                        failedAttempts: 0, startedAt: 0, endedAt: 0),
                    events: nil, transition: .release))
            }
            let broken = first[0].run.id
            try await store.client.query(PostgresQuery(
                unsafeSQL: "UPDATE \(PostgresIdentifier.quoted(store.configuration.schema)).steps SET output = '{not json' WHERE run_id = '\(broken)'"))
            let second = try await store.claim(ClaimRequest(
                appID: "unreadable-app", functionIDs: ["two-steps"], owner: "test", now: Int64.max / 4 + 1, leaseDuration: 1000, limit: 10))
            #expect(second.map(\.run.id) == [first[1].run.id])
            let failed = try #require(try await store.run(id: broken, environment: "default"))
            #expect(failed.status == .failed)
            #expect(failed.error?.name == "Stepwise.UnreadableRun")
        }
    }
}
