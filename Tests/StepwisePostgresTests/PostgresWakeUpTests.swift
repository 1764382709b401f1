import Foundation
import ServiceLifecycle
import ServiceLifecycleTestKit
import Stepwise
@testable import StepwisePostgres
import Synchronization
import StepwiseTesting
import Testing

/// LISTEN/NOTIFY across processes: an event sent by another process (StepwiseTestChild, with
/// a PostgresStore of its own) starts its run in this one without waiting for a poll.
@Suite("PostgreSQL wake-ups across processes", .enabled(if: PostgresTestServer.enabled), .serialized)
struct PostgresWakeUpTests {
    /// A worker whose poll interval is an hour, on the test's schema; a child process sends
    /// one event. Returns how long after the child's send returned the run's first step body
    /// began (zero if before), or `nil` if it had not within `bound`.
    func startDelay(hidesChangeFeed: Bool, bound: Duration) async throws -> Duration? {
        let schema = PostgresTestServer.uniqueSchema("wake")
        let url = try PostgresTestServer.url(schema: schema, poolSize: 2)
        return try await PostgresTestServer.withStore(try PostgresTestServer.configuration(schema: schema)) { postgres in
            let store = FaultInjectingStore(postgres, hidesChangeFeed: hidesChangeFeed)
            let client = StepwiseClient(id: "wake-app", store: store)
            let (starts, started) = AsyncStream.makeStream(of: ContinuousClock.Instant.self)
            try client.createFunction(id: "pong", trigger: .event("wake/ping")) { event, step in
                try await step.run("pong") { () -> String in
                    started.yield(ContinuousClock.now)
                    return "pong"
                }
            }
            let worker = client.worker(.init(pollInterval: .seconds(3600)))
            return try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await worker.run() }
                    // The worker has claimed once and asked when to look next: it is going to sleep.
                    let clock = ContinuousClock()
                    let ready = clock.now + .seconds(60)
                    while store.calls(.nextDueTime) == 0 {
                        try #require(clock.now < ready, "the worker never went idle")
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    let child = try ChildProcess(["append", "--postgres", url, "1", "wake/ping"])
                    try #require(try await child.nextLine() == "done", "the sending process failed")
                    let sent = ContinuousClock.now
                    let first = await Self.first(starts, within: bound)
                    trigger.triggerGracefulShutdown()
                    try await group.waitForAll()
                    child.kill()
                    return first.map { max(.zero, $0 - sent) }
                }
            }
        }
    }

    /// The first element of `stream`, or `nil` after `timeout`.
    static func first(_ stream: AsyncStream<ContinuousClock.Instant>, within timeout: Duration) async -> ContinuousClock.Instant? {
        await withTaskGroup(of: ContinuousClock.Instant?.self) { group in
            group.addTask {
                var iterator = stream.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return await group.next() ?? nil
        }
    }

    @Test("an event sent by another process starts its run here within two seconds, though the worker polls hourly")
    func wakesAcrossProcesses() async throws {
        let delay = try await startDelay(hidesChangeFeed: false, bound: .seconds(2))
        print("PostgresWakeUpTests.wakesAcrossProcesses: the run started \(delay.map { "\($0)" } ?? "never") after the send")
        #expect(delay != nil, "the run did not start within 2 s of the other process's send")
    }

    @Test("without the feed, the same worker does not see it: LISTEN/NOTIFY is what woke it")
    func withoutTheFeedItSleeps() async throws {
        #expect(try await startDelay(hidesChangeFeed: true, bound: .seconds(3)) == nil)
    }

    @Test("the writes a worker's own claims covered are announced as covered by it; a send it did not claim for is not")
    func coveredWritesNameTheirWorker() async throws {
        try await PostgresTestServer.withStore { store in
            let client = StepwiseClient(id: "covered-app", store: store)
            try client.createFunction(id: "pong", trigger: .event("wake/covered")) { event, step in
                try await step.run("pong") { "pong" }
            }
            let worker = client.worker(.init(pollInterval: .seconds(3600)))
            let finished = client.subscribe(to: "stepwise/function.finished")
            let changes = Mutex<[StoreChange]>([])
            let feed = store.changes()
            let reader = Task { for await change in feed { changes.withLock { $0.append(change) } } }
            defer { reader.cancel() }
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await worker.run() }
                    // A first run, to know that the worker runs, then quiet.
                    var iterator = finished.makeAsyncIterator()
                    try await client.send(Event(name: "wake/covered"))
                    _ = await iterator.next()
                    try await Task.sleep(for: .milliseconds(300))
                    changes.withLock { $0.removeAll() }
                    // Sent by a client whose worker has room: the send claims the run, and its
                    // ending claims again and finds nothing due.
                    try await client.send(Event(name: "wake/covered"))
                    _ = await iterator.next()
                    try await Task.sleep(for: .milliseconds(300))
                    let covered = changes.withLock { $0 }
                    #expect(!covered.isEmpty, "the send and the ending were announced")
                    #expect(covered.allSatisfy { $0.coveredBy == worker.id }, "covered by the worker: \(covered)")
                    // A send through a client without a worker claims nothing: announced for all.
                    changes.withLock { $0.removeAll() }
                    try await StepwiseClient(id: "other-app", store: store).send(Event(name: "wake/other"))
                    let deadline = ContinuousClock.now + .seconds(5)
                    while changes.withLock({ $0.isEmpty }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                    let plain = changes.withLock { $0 }
                    #expect(!plain.isEmpty && plain.allSatisfy { $0.coveredBy == nil }, "not covered: \(plain)")
                    trigger.triggerGracefulShutdown()
                    try await group.waitForAll()
                }
            }
        }
    }

    @Test("a payload names its covering claimer apart from an environment, whatever the environment's name")
    func payloads() {
        for environment in ["default", "with space", "näme:with;punctuation", ""] {
            let covered = PostgresNotifier.change(payload: PostgresNotifier.payload(environment: environment, coveredBy: "worker-1"))
            #expect(covered == .runsMayBeDue(environment: environment, coveredBy: "worker-1"))
            let plain = PostgresNotifier.change(payload: PostgresNotifier.payload(environment: environment, coveredBy: nil))
            #expect(plain == .runsMayBeDue(environment: environment))
        }
    }
}
