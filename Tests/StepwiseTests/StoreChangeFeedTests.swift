import Foundation
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing
@testable import Stepwise
import StepwiseTesting

@Suite("Store change feed", .serialized)
struct StoreChangeFeedTests {
    /// Waits for the first event of `subscription`; `nil` after `timeout`.
    static func first(_ subscription: EventSubscription, within timeout: Duration) async -> StoredEvent? {
        await withTaskGroup(of: StoredEvent?.self) { group in
            group.addTask {
                var iterator = subscription.makeAsyncIterator()
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

    @Test("the SQLite feed yields once it watches, then only after another connection commits")
    func sqliteFeed() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("feed.db")
        let store = try SQLiteStore(.init(path: path, changePollInterval: .milliseconds(20)))
        let changes = store.changes()
        let seen = Counter()
        let reader = Task {
            for await _ in changes { seen.hit("change") }
        }
        /// Waits until `count` changes were seen, for up to 30 s.
        func waitUntilSeen(_ count: Int) async throws -> Bool {
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(30)
            while seen["change"] < count, clock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
            return seen["change"] >= count
        }

        #expect(try await waitUntilSeen(1), "no first look")
        // Idle: twenty polls, nothing committed, nothing yielded.
        try await Task.sleep(for: .milliseconds(400))
        #expect(seen["change"] == 1, "a change was reported while nothing was committed")
        // Another connection (another store on the file, as another process would be) commits.
        let other = try SQLiteStore(.init(path: path))
        try await StepwiseClient(id: "other", store: other).send(Event(name: "feed/other"))
        #expect(try await waitUntilSeen(2), "another connection's commit was not seen")
        reader.cancel()
        await reader.value
    }

    @Test("an in-memory SQLite store's feed ends at once: nothing else can change it")
    func inMemoryFeedEnds() async throws {
        var iterator = try SQLiteStore(.init(path: nil)).changes().makeAsyncIterator()
        #expect(await iterator.next() == nil)
    }

    /// A worker whose poll interval is an hour, on a file that a child process appends to.
    /// - Returns: whether the child's event was run within `bound`.
    func workerSeesAnotherProcess(hidesChangeFeed: Bool, bound: Duration) async throws -> Bool {
        let directory = try TemporaryDirectory()
        let path = directory.path("feed.db")
        let store = FaultInjectingStore(try SQLiteStore(.init(path: path, changePollInterval: .milliseconds(50))), hidesChangeFeed: hidesChangeFeed)
        let client = StepwiseClient(id: "feed-app", store: store)
        try client.createFunction(id: "pong", trigger: .event("feed/ping")) { event, step in
            try await step.run("pong") { "pong" }
        }
        let worker = client.worker(.init(pollInterval: .seconds(3600)))
        let finished = client.subscribe(to: "stepwise/function.finished")
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
                let child = try ChildProcess(["append", path, "1", "feed/ping"])
                #expect(try await child.nextLine() == "done")
                let event = await Self.first(finished, within: bound)
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
                return event != nil
            }
        }
    }

    @Test("an event appended by another process wakes a worker whose poll interval is an hour")
    func wakesAcrossProcesses() async throws {
        // Anything short of the hour is the feed; loose, for a machine starved by the suite.
        #expect(try await workerSeesAnotherProcess(hidesChangeFeed: false, bound: .seconds(30)))
    }

    @Test("without the feed, the same worker does not see it: the feed is what woke it")
    func withoutTheFeedItSleeps() async throws {
        #expect(try await !workerSeesAnotherProcess(hidesChangeFeed: true, bound: .seconds(3)))
    }
}
