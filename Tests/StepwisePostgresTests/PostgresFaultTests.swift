import Foundation
import PostgresNIO
import Stepwise
@testable import StepwisePostgres
import Synchronization
import Testing

/// What the store does when the server is not there, goes away, or rolls a transaction
/// back: errors in the engine's vocabulary (``StoreFailure``), retries that recover.
@Suite("PostgreSQL store faults", .enabled(if: PostgresTestServer.enabled), .serialized)
struct PostgresFaultTests {
    // MARK: The server unreachable at start

    @Test("nothing listens at the server's port: run() throws .unreachable naming host and port, within the connect timeout")
    func unreachableAtStart() async throws {
        let port = try unusedLoopbackPort()
        let configuration = PostgresStore.Configuration(
            endpoint: .tcp(host: "127.0.0.1", port: port), username: "stepwise", database: "stepwise_test", tls: .disable,
            schema: "stepwise_unreachable", connectTimeout: .seconds(2))
        let store = try PostgresStore(configuration, logger: PostgresTestServer.logger)
        let clock = ContinuousClock()
        let start = clock.now
        // Bounded here, so that a run() that hangs fails this test rather than the suite.
        let outcome: Result<Void, any Error>? = await withTaskGroup(of: Result<Void, any Error>?.self) { group in
            group.addTask {
                do {
                    try await store.run()
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(30))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        let elapsed = clock.now - start
        let result = try #require(outcome, "run() neither failed nor returned within 30 s with nothing listening on port \(port)")
        guard case .failure(let error) = result else {
            Issue.record("run() returned normally with nothing listening")
            return
        }
        guard case .unreachable(let server, _)? = error as? PostgresStoreError else {
            Issue.record("run() threw \(error), not PostgresStoreError.unreachable")
            return
        }
        #expect(server == "127.0.0.1:\(port)")
        #expect("\(error)".contains("127.0.0.1:\(port)"), "the message names the server: \(error)")
        #expect(failureKind(error) == .permanent)
        // Seconds, not a hang: 20 s allows for the whole suite's parallel tests on 2 cores.
        #expect(elapsed < .seconds(20), "run() took \(elapsed) to give up, with a 2 s connect timeout")
        // A worker waiting for the store learns it too, rather than waiting for ever.
        await #expect(throws: PostgresStoreError.self) { try await store.waitUntilReady() }
        print("PostgresFaultTests.unreachableAtStart: run() threw after \(elapsed): \(error)")
    }

    // MARK: The server restarted mid-run

    @Test("the server crashes and restarts mid-run: the worker recovers, nothing lost or done twice, the listener reconnects")
    func serverRestart() async throws {
        let server = try ThrowawayPostgres()
        defer { server.remove() }
        let schema = "stepwise_restart"
        var configuration = try PostgresStore.Configuration(url: server.url)
        configuration.schema = schema
        configuration.poolSize = 4
        let url = try PostgresTestServer.url(schema: schema, poolSize: 6, server: server.url)
        let directory = try TemporaryDirectory()
        let log = directory.path("steps.log")
        let count = 80
        try await PostgresTestServer.withStore(configuration) { store in
            let changes = Changes(store.changes())
            let workload = CrashWorkload(store: store, count: count)
            let worker = try ChildProcess(["worker", "--postgres", url, log])
            try #require(try await worker.nextLine() == "ready", "the worker process did not start")
            for n in 0..<count { try await workload.send(n) }

            // Mid-run: some producers done, not all.
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(60)
            while try await workload.completedProducers() < 10 {
                try #require(clock.now < deadline, "the worker made no progress before the restart")
                try await Task.sleep(for: .milliseconds(10))
            }
            let before = try await workload.completedProducers()
            let unknownBefore = changes.count(of: .unknown)
            // A crash (every backend killed, recovery at start), down for longer than the
            // engine's retries of one call (StoreRetry.standard, about 0.4 s) and than the 1 s
            // leases of the worker's runs.
            try server.stop(mode: "immediate")
            try await Task.sleep(for: .milliseconds(1500))
            try server.start()
            let restarted = clock.now

            // The store's own listener came back, and said so: what was sent while it was
            // away is gone, so its subscribers are told to look again.
            while changes.count(of: .unknown) == unknownBefore {
                try #require(clock.now < restarted + .seconds(20), "the listener did not reconnect within 20 s of the restart")
                try await Task.sleep(for: .milliseconds(20))
            }
            let reconnected = clock.now - restarted
            // Until the pool has reconnected, the test's own reads may fail too.
            while (try? await workload.allDone()) != true {
                try #require(clock.now < deadline, "the worker did not finish after the restart (\(before) of \(count) done before it)")
                try await Task.sleep(for: .milliseconds(50))
            }
            worker.kill()
            #expect(before < count, "the restart came after the work was done: it proved nothing")
            print("PostgresFaultTests.serverRestart: \(before) of \(count) done at the restart; listener back after \(reconnected); all done \(clock.now - restarted) after it")
            try await workload.checkInvariants(log: log)
            let interrupted = try CrashWorkload.lines(log).filter { $0[0] == "interrupted" }
            print("PostgresFaultTests.serverRestart: \(interrupted.count) steps interrupted: \(Set(interrupted.compactMap(\.last)))")

            // Wake-ups flow again: this store's next commit that makes a run due is heard.
            let knownBefore = changes.known
            try await workload.send(count)
            while changes.known == knownBefore {
                try #require(clock.now < deadline, "no NOTIFY was heard after the restart")
                try await Task.sleep(for: .milliseconds(20))
            }
            changes.cancel()
        }
    }

    // MARK: Serialization failures and deadlocks

    /// A table of the test's own in the store's schema (the pool's search path).
    func makeProbeTable(_ store: PostgresStore) async throws {
        try await store.client.query("CREATE TABLE probe (id integer PRIMARY KEY, v integer NOT NULL)")
        try await store.client.query("INSERT INTO probe (id, v) VALUES (1, 0), (2, 0)")
    }

    @Test("a real deadlock (40P01) in a store transaction fails it as transactionFailed, transient; the other commits")
    func deadlockIsTransient() async throws {
        try await PostgresTestServer.withStore { store in
            try await makeProbeTable(store)
            let barrier = Barrier(parties: 2)
            // Two transactions lock the two rows in opposite orders, each holding its first
            // lock before either asks for its second: PostgreSQL aborts one of them
            // (deadlock_timeout, 1 s by default).
            func lock(_ first: Int32, then second: Int32) async -> Result<Void, any Error> {
                do {
                    try await store.transaction { transaction in
                        try await transaction.execute("UPDATE probe SET v = v + 1 WHERE id = \(first)")
                        await barrier.arrive()
                        try await transaction.execute("UPDATE probe SET v = v + 1 WHERE id = \(second)")
                    }
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            async let one = lock(1, then: 2)
            async let two = lock(2, then: 1)
            let results = await [one, two]
            let failures = results.compactMap { result -> (any Error)? in
                if case .failure(let error) = result { return error }
                return nil
            }
            try #require(failures.count == 1, "exactly one of the two deadlocked transactions is aborted: \(failures)")
            let failure = try #require(failures.first)
            guard case .transactionFailed(let reason)? = failure as? PostgresStoreError else {
                Issue.record("a deadlock surfaced as \(failure), not transactionFailed")
                return
            }
            #expect(reason.contains("40P01"), "the reason carries the SQLSTATE: \(reason)")
            #expect(failureKind(failure) == .transient)
            // The survivor committed both its updates, the victim none.
            let total = try await store.client.query("SELECT sum(v)::int FROM probe").collect().first?.decode(Int32.self)
            #expect(total == 2)
        }
    }

    @Test("a real serialization failure (40001) is transient, before COMMIT and at it; a unique violation is not")
    func serializationFailureIsTransient() async throws {
        try await PostgresTestServer.withStore { store in
            try await makeProbeTable(store)
            // Through the store's own transaction: REPEATABLE READ, a snapshot, then an update
            // of a row another connection changed since ("could not serialize access due to
            // concurrent update").
            let failure: (any Error)? = await {
                do {
                    try await store.transaction { transaction in
                        try await transaction.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                        _ = try await transaction.rows("SELECT v FROM probe WHERE id = 1")
                        try await store.client.query("UPDATE probe SET v = v + 1 WHERE id = 1")
                        try await transaction.execute("UPDATE probe SET v = v + 10 WHERE id = 1")
                    }
                    return nil
                } catch {
                    return error
                }
            }()
            let error = try #require(failure, "the concurrent update did not fail the repeatable-read transaction")
            guard case .transactionFailed(let reason)? = error as? PostgresStoreError else {
                Issue.record("a serialization failure surfaced as \(error), not transactionFailed")
                return
            }
            #expect(reason.contains("40001"), "the reason carries the SQLSTATE: \(reason)")
            #expect(failureKind(error) == .transient)

            // The driver's own errors, mapped as at COMMIT too: the server answered, so it
            // rolled back, and a retry stores nothing twice.
            let serialization = try await rawError(store) { connection in
                try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ", logger: PostgresTestServer.logger)
                _ = try await connection.query("SELECT v FROM probe WHERE id = 2", logger: PostgresTestServer.logger).collect()
                try await store.client.query("UPDATE probe SET v = v + 1 WHERE id = 2")
                try await connection.query("UPDATE probe SET v = v + 10 WHERE id = 2", logger: PostgresTestServer.logger)
            }
            #expect(PostgresStoreError.sqlState(serialization) == "40001")
            for committing in [false, true] {
                let mapped = PostgresStore.failure(serialization, committing: committing)
                #expect(failureKind(mapped) == .transient, "40001, committing: \(committing) → \(mapped)")
            }
            let duplicate = try await rawError(store) { connection in
                try await connection.query("INSERT INTO probe (id, v) VALUES (1, 0)", logger: PostgresTestServer.logger)
            }
            #expect(PostgresStoreError.sqlState(duplicate) == "23505")
            #expect(failureKind(PostgresStore.failure(duplicate, committing: false)) == .permanent)
        }
    }

    @Test("a statement on a connection the server cut off fails at once as transient, rather than hang", .timeLimit(.minutes(1)))
    func statementOnClosedConnectionFails() async throws {
        try await PostgresTestServer.withStore { store in
            try await store.client.withConnection { connection in
                let pid = try await connection.query("SELECT pg_backend_pid()", logger: PostgresTestServer.logger).collect().first?.decode(Int32.self)
                let backend = try #require(pid)
                try await store.client.query("SELECT pg_terminate_backend(\(backend))")
                // The FATAL and the close reach the driver while the connection is idle, and
                // the channel is torn down: postgres-nio would drop a query written to it.
                let clock = ContinuousClock()
                let deadline = clock.now + .seconds(10)
                while !connection.isClosed, clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                try #require(connection.isClosed, "the terminated connection did not close")
                try await Task.sleep(for: .milliseconds(200))
                let transaction = PostgresTransaction(connection: connection, logger: PostgresTestServer.logger, watch: PostgresConnectionWatch())
                for attempt in ["rows", "execute"] {
                    do {
                        if attempt == "rows" {
                            _ = try await transaction.rows("SELECT 1")
                        } else {
                            try await transaction.execute("SELECT 1")
                        }
                        Issue.record("\(attempt) on a closed connection succeeded")
                    } catch {
                        guard case .transactionFailed? = error as? PostgresStoreError else {
                            Issue.record("\(attempt) on a closed connection threw \(error), not transactionFailed")
                            continue
                        }
                        #expect(failureKind(error) == .transient)
                    }
                }
            }
        }
    }

    /// The error `body` throws on a pooled connection of `store`, as the driver threw it.
    /// The connection is given back to the pool rolled back: an aborted transaction left on
    /// it would fail the next user's statements (25P02).
    func rawError(_ store: PostgresStore, _ body: (PostgresConnection) async throws -> Void) async throws -> any Error {
        let caught: (any Error)? = try await store.client.withConnection { connection in
            do {
                try await body(connection)
                return nil
            } catch {
                if !connection.isClosed { _ = try? await connection.query("ROLLBACK", logger: PostgresTestServer.logger) }
                return error
            }
        }
        guard let caught else { throw PostgresTestSetupError(message: "the statement that should have failed succeeded") }
        return caught
    }
}

/// What the engine sees of `error`: its ``StoreFailure`` kind, `nil` for an error it cannot
/// classify (which it does not retry).
func failureKind(_ error: any Error) -> StoreFailureKind? {
    (error as? any StoreFailure)?.storeFailureKind
}

/// A store's change feed, counted as it arrives.
final class Changes: Sendable {
    final class Counts: Sendable {
        let seen = Mutex<[StoreChange: Int]>([:])
    }

    private let counts: Counts
    private let reader: Task<Void, Never>

    init(_ stream: AsyncStream<StoreChange>) {
        let counts = Counts()
        self.counts = counts
        reader = Task {
            for await change in stream { counts.seen.withLock { $0[change, default: 0] += 1 } }
        }
    }

    func count(of change: StoreChange) -> Int { counts.seen.withLock { $0[change, default: 0] } }

    /// How many changes other than "look again" (``StoreChange/unknown``) arrived.
    var known: Int { counts.seen.withLock { $0.filter { $0.key != .unknown }.values.reduce(0, +) } }

    func cancel() { reader.cancel() }
}

/// Holds `parties` tasks until all of them arrived.
actor Barrier {
    let parties: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(parties: Int) { self.parties = parties }

    func arrive() async {
        if waiting.count + 1 >= parties {
            for continuation in waiting { continuation.resume() }
            waiting.removeAll()
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }
}
