import Foundation
import ServiceLifecycle
import ServiceLifecycleTestKit
import Stepwise
import StepwisePostgres
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
}
