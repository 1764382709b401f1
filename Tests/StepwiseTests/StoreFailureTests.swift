import CSQLite
import Logging
import Synchronization
import Testing
@testable import Stepwise
import StepwiseTesting

/// The error vocabulary, the SQLite store's mapping onto it, and what the engine does with
/// each kind (through ``FaultInjectingStore``).
@Suite("Store failures")
struct StoreFailureTests {
    struct Unclassified: Error {}

    /// Records the delays asked for instead of sleeping them.
    final class Sleeps: Sendable {
        let delays = Mutex<[Duration]>([])
        func sleep(_ delay: Duration) { delays.withLock { $0.append(delay) } }
        var all: [Duration] { delays.withLock { $0 } }
    }

    let quiet: Logger = {
        var logger = Logger(label: "stepwise.test")
        logger.logLevel = .critical
        return logger
    }()

    @Test("transient failures are retried up to the bound, with jittered doubling delays, then thrown")
    func retriesTransient() async throws {
        let retry = StoreRetry(maxAttempts: 4, baseDelay: .milliseconds(100), maxDelay: .milliseconds(300))
        let sleeps = Sleeps()
        let calls = Counter()
        await #expect(throws: StoreNotStartedError.self) {
            try await retry.run("test", logger: quiet, sleep: { sleeps.sleep($0) }) {
                calls.hit("failing")
                throw StoreNotStartedError(store: "test")
            }
        }
        #expect(calls["failing"] == 4)
        let delays = sleeps.all
        #expect(delays.count == 3)
        // Each delay lies between half and all of its doubled, capped base.
        for (delay, base) in zip(delays, [100, 200, 300].map { Duration.milliseconds($0) }) {
            #expect(delay >= base / 2 && delay <= base, "\(delay) outside [\(base / 2), \(base)]")
        }

        let value = try await retry.run("test", logger: quiet, sleep: { sleeps.sleep($0) }) { () -> Int in
            calls.hit("busy twice")
            if calls["busy twice"] < 3 { throw SQLiteError(code: SQLITE_BUSY, message: "busy", sql: nil) }
            return 42
        }
        #expect(value == 42)
        #expect(calls["busy twice"] == 3)
    }

    @Test("permanent failures, unclassified errors and a lost lease are never retried")
    func neverRetriesTheRest() async throws {
        let errors: [any Error] = [
            SQLiteError(code: SQLITE_CORRUPT, message: "corrupt", sql: nil), SQLiteStoreError.corruptRow(table: "events", reason: "bad"),
            Unclassified(), LeaseLostError(runID: RunID(ULID(high: 1, low: 1))),
        ]
        for error in errors {
            let calls = Counter()
            await #expect(throws: (any Error).self) {
                try await StoreRetry.standard.run("test", logger: quiet, sleep: { _ in Issue.record("slept for \(error)") }) {
                    calls.hit("call")
                    throw error
                }
            }
            #expect(calls["call"] == 1, "\(error) was retried")
        }
    }

    @Test("SQLite's codes map onto the vocabulary: contention is transient, the rest permanent")
    func sqliteMapping() {
        let transient: [Int32] = [SQLITE_BUSY, SQLITE_BUSY | (2 << 8) /* BUSY_SNAPSHOT */, SQLITE_LOCKED, SQLITE_PROTOCOL]
        for code in transient {
            #expect(SQLiteError(code: code, message: "", sql: nil).storeFailureKind == .transient, "code \(code)")
        }
        let permanent: [Int32] = [SQLITE_IOERR, SQLITE_FULL, SQLITE_NOMEM, SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_CONSTRAINT, SQLITE_MISUSE, SQLITE_READONLY]
        for code in permanent {
            #expect(SQLiteError(code: code, message: "", sql: nil).storeFailureKind == .permanent, "code \(code)")
        }
        #expect(SQLiteStoreError.corruptRow(table: "events", reason: "").storeFailureKind == .unreadableRecord)
        #expect(SQLiteStoreError.schemaTooNew(found: 9, known: 3).storeFailureKind == .permanent)
        #expect(!StoreFailureKind.unreadableRecord.isTransient)
        #expect(StoreFailureKind(of: LeaseLostError(runID: RunID(ULID(high: 1, low: 1)))) == nil)
        #expect(StoreFailureKind(of: Unclassified()) == .permanent)
    }

    @Test("a database locked by another connection fails a write as transient")
    func realBusyIsTransient() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("busy.db")
        let client = try makeClient(store: SQLiteStore(.init(path: path, busyTimeout: .milliseconds(20))))
        let other = try SQLiteConnection(path: path, readOnly: false)
        try other.run("BEGIN IMMEDIATE")
        do {
            try await client.send(Event(name: "busy/test"))
            Issue.record("the write went through a locked database")
        } catch let failure as any StoreFailure {
            #expect(failure.isTransient, "\(failure)")
        }
        try other.run("ROLLBACK")
        try await client.send(Event(name: "busy/test"))
    }

    // MARK: The engine

    func harness(_ store: FaultInjectingStore) throws -> (Harness, Counter) {
        let harness = try Harness(store: store)
        let calls = Counter()
        try harness.client.createFunction(id: "charge", trigger: .event("shop/order.placed")) { event, step in
            try await step.run("charge") { () -> String in
                calls.hit("charge")
                return "charged"
            }
        }
        return (harness, calls)
    }

    @Test("a transient commit failure is retried and the run completes once")
    func transientCommitIsRetried() async throws {
        let store = FaultInjectingStore(try SQLiteStore(.init(path: nil)))
        let (harness, calls) = try harness(store)
        try await harness.client.send(Event(name: "shop/order.placed"))
        store.failNext(2, .commit)
        try await harness.worker.drain()
        let run = try await harness.onlyRun(of: "charge")
        #expect(run.status == .completed)
        #expect(run.output == "charged")
        #expect(run.attempt == 0)
        #expect(calls["charge"] == 1, "the step body ran again")
        #expect(store.injectedFailures(.commit) == 2)
    }

    @Test("a transient claim failure is retried within the same look")
    func transientClaimIsRetried() async throws {
        let store = FaultInjectingStore(try SQLiteStore(.init(path: nil)))
        let (harness, calls) = try harness(store)
        try await harness.client.send(Event(name: "shop/order.placed"))
        store.failNext(3, .claim)
        try await harness.worker.drain()
        #expect(try await harness.onlyRun(of: "charge").status == .completed)
        #expect(calls["charge"] == 1)
        #expect(store.injectedFailures(.claim) == 3)
    }

    @Test(
        "a permanent commit failure stops the run as before, and its lease brings it back",
        arguments: [("permanent", 1, StoreFailureKind.permanent), ("transient past the bound", StoreRetry.standard.maxAttempts, .transient)])
    func permanentCommitStopsTheRun(_ label: String, failures: Int, kind: StoreFailureKind) async throws {
        let store = FaultInjectingStore(try SQLiteStore(.init(path: nil)))
        let (harness, calls) = try harness(store)
        try await harness.client.send(Event(name: "shop/order.placed"))
        store.failNext(failures, .commit, kind: kind)
        try await harness.worker.drain()
        let stopped = try await harness.onlyRun(of: "charge")
        #expect(stopped.status == .running, "the run holds its lease until it runs out")
        #expect(calls["charge"] == 1)
        #expect(store.injectedFailures(.commit) == failures)
        // The lease runs out (the manual clock moves on to it) and the run is claimed again.
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "charge")
        #expect(run.status == .completed)
        #expect(calls["charge"] == 2, "the step's result was never stored, so it ran again")
    }

    @Test("cancelling a run whose event is an unreadable record still cancels it, whatever the store")
    func cancelSkipsUnreadableEvent() async throws {
        let store = FaultInjectingStore(try SQLiteStore(.init(path: nil)))
        let (harness, _) = try harness(store)
        try await harness.client.registerFunctions()
        try await harness.client.send(Event(name: "shop/order.placed"))
        let run = try await harness.onlyRun(of: "charge")
        store.failNext(1, .event, kind: .permanent)
        await #expect(throws: InjectedStoreFailure.self) { try await harness.client.cancelRun(run.id) }
        store.failNext(1, .event, kind: .unreadableRecord)
        #expect(try await harness.client.cancelRun(run.id))
        #expect(try await harness.onlyRun(of: "charge").status == .cancelled)
    }

    @Test("the injector's probability rule replays the same failures from the same seed")
    func seededFaults() async throws {
        func pattern(seed: UInt64) async throws -> [Bool] {
            let store = FaultInjectingStore(try SQLiteStore(.init(path: nil)), seed: seed)
            store.fail(.environmentExists, probability: 0.5)
            var failed: [Bool] = []
            for _ in 0..<64 {
                do {
                    _ = try await store.environmentExists("default")
                    failed.append(false)
                } catch let failure as InjectedStoreFailure {
                    #expect(failure.isTransient)
                    failed.append(true)
                }
            }
            return failed
        }
        let first = try await pattern(seed: 7)
        #expect(try await pattern(seed: 7) == first)
        #expect(first.contains(true) && first.contains(false))
    }
}
