import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing
@testable import Stepwise
import StepwiseTesting

@Suite("Worker service")
struct WorkerServiceTests {
    /// Waits for the first event of `subscription`, failing after `timeout`.
    func first(_ subscription: EventSubscription, timeout: Duration = .seconds(10)) async throws -> StoredEvent {
        try await withThrowingTaskGroup(of: StoredEvent?.self) { group in
            group.addTask {
                var iterator = subscription.makeAsyncIterator()
                return await iterator.next()
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            let event = try await group.next() ?? nil
            return try #require(event, "nothing arrived within \(timeout)")
        }
    }

    @Test("a running worker wakes at once when an event creates a run")
    func wakesOnEvents() async throws {
        let client = StepwiseClient(id: "test-app", store: try SQLiteStore(.init(path: nil)))
        try client.createFunction(id: "echo", trigger: .event("echo")) { event, step in
            try await step.run("echo") { event.data }
        }
        // A poll interval far longer than the test: only the bus can wake the worker.
        let worker = client.worker(.init(pollInterval: .seconds(3600)))
        let finished = client.subscribe(to: "stepwise/function.finished")
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                try await client.registerFunctions()
                let clock = ContinuousClock()
                let start = clock.now
                try await client.send(Event(name: "echo", data: ["hello": "world"]))
                // Anything short of the hour-long poll interval is the bus: the bound is loose
                // so that a machine starved by the rest of the suite (8 s seen) does not fail it.
                let event = try await first(finished, timeout: .seconds(30))
                #expect(clock.now - start < .seconds(30))
                #expect(event.data["output"] == ["hello": "world"])
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test("a slot claims its next run in the commit that ends its last one, not in a transaction of its own")
    func claimsInTheEndingCommit() async throws {
        let transactions = Atomic<Int>(0)
        let store = try SQLiteStore(.init(path: nil), commitObserver: { _ in transactions.add(1, ordering: .relaxed) })
        let client = StepwiseClient(id: "test-app", store: store)
        try client.createFunction(id: "quick", trigger: .event("q")) { _, _ in 1 }
        try await client.registerFunctions()
        let runs = 10
        for _ in 0..<runs { try await client.send(Event(name: "q")) }
        let finished = client.subscribe(to: "stepwise/function.finished")
        let before = transactions.load(ordering: .relaxed)
        // One slot, no polling, no lease renewal in the test's time (a renewal is a writer
        // transaction too, and a loaded machine takes seconds): each run after the first is
        // claimed by the slot.
        let worker = client.worker(.init(concurrency: 1, leaseDuration: .seconds(3600), pollInterval: .seconds(3600)))
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                for _ in 0..<runs { _ = try await first(finished, timeout: .seconds(30)) }
                // The claim loop's look once the slot is free, which finds nothing.
                try await Task.sleep(for: .milliseconds(200))
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        // The worker's registration, the first claim, one commit per run (its end and the
        // next claim), the claim loop's last look: runs + 3, and a few looks more when the
        // runs' `function.finished` events wake the claim loop once the slot is free. A claim
        // of its own after each run would make it 2 × runs + 3 or more.
        let used = transactions.load(ordering: .relaxed) - before
        #expect(used <= runs + 8, "\(used) writer transactions for \(runs) runs")
        #expect(try await store.runs(RunQuery(environment: "default", limit: 100)).allSatisfy { $0.status == .completed })
    }

    @Test("a send claims the run it starts for the worker with room, in its own commit")
    func sendClaimsForTheWorker() async throws {
        let transactions = Atomic<Int>(0)
        let store = try SQLiteStore(.init(path: nil), commitObserver: { _ in transactions.add(1, ordering: .relaxed) })
        let client = StepwiseClient(id: "test-app", store: store)
        try client.createFunction(id: "quick", trigger: .event("q")) { _, _ in 1 }
        let finished = client.subscribe(to: "stepwise/function.finished")
        let worker = client.worker(.init(concurrency: 4, leaseDuration: .seconds(3600), pollInterval: .seconds(3600)))
        let runs = 10
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                // Up and registered: the first run goes through the worker's own claim.
                try await client.send(Event(name: "q"))
                _ = try await first(finished, timeout: .seconds(30))
                let before = transactions.load(ordering: .relaxed)
                for _ in 0..<runs {
                    try await client.send(Event(name: "q"))
                    _ = try await first(finished, timeout: .seconds(30))
                }
                // The send with its claim, the end with the slot's next look: two a run. Had
                // the worker claimed each run itself, and looked again when told of its end,
                // it would be four.
                let used = transactions.load(ordering: .relaxed) - before
                #expect(used <= 2 * runs + 3, "\(used) writer transactions for \(runs) runs")
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test("sends claiming for the worker never run more at once than its concurrency")
    func sendClaimsKeepConcurrency() async throws {
        let client = StepwiseClient(id: "test-app", store: try SQLiteStore(.init(path: nil)))
        let running = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        try client.createFunction(id: "slow", trigger: .event("s")) { _, step in
            let now = running.add(1, ordering: .relaxed).newValue
            most.max(now, ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(20))
            running.subtract(1, ordering: .relaxed)
            return 1
        }
        let finished = client.subscribe(to: "stepwise/function.finished")
        let worker = client.worker(.init(concurrency: 3, leaseDuration: .seconds(3600), pollInterval: .seconds(3600)))
        let runs = 30
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                try await client.registerFunctions()
                try await withThrowingTaskGroup(of: Void.self) { senders in
                    for _ in 0..<runs { senders.addTask { try await client.send(Event(name: "s")) } }
                    try await senders.waitForAll()
                }
                for _ in 0..<runs { _ = try await first(finished, timeout: .seconds(30)) }
                #expect(most.load(ordering: .relaxed) <= 3, "\(most.load(ordering: .relaxed)) runs at once")
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test("a run started later than the send that claims (debounced) still starts when due, without polling")
    func delayedStartsStillWake() async throws {
        let client = StepwiseClient(id: "test-app", store: try SQLiteStore(.init(path: nil)))
        try client.createFunction(id: "settled", trigger: .event("d"), options: .init(debounce: .init(period: .seconds(1)))) { _, _ in 1 }
        try client.createFunction(id: "warm", trigger: .event("w")) { _, _ in 1 }
        let finished = client.subscribe(to: "stepwise/function.finished")
        let worker = client.worker(.init(concurrency: 2, pollInterval: .seconds(3600)))
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                // The worker up and idle, waiting with nothing due: its next look is an hour away.
                try await client.send(Event(name: "w"))
                _ = try await first(finished, timeout: .seconds(30))
                try await Task.sleep(for: .milliseconds(100))
                try await client.send(Event(name: "d"))
                // Not due at the send: the send's claim finds nothing, and only the wake-up it
                // must not suppress sets the worker's next look at the debounce's end.
                _ = try await first(finished, timeout: .seconds(30))
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    @Test("graceful shutdown lets a running step finish within the grace period")
    func finishesWithinGrace() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let client = StepwiseClient(id: "test-app", store: store)
        let entered = Doorbell()
        try client.createFunction(id: "slow", trigger: .event("slow")) { event, step in
            try await step.run("work") { () -> String in
                entered.ring()
                try await Task.sleep(for: .milliseconds(300))
                return "finished"
            }
        }
        let worker = client.worker(.init(shutdownGracePeriod: .seconds(10)))
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                try await client.registerFunctions()
                try await client.send(Event(name: "slow"))
                await entered.wait(timeout: .seconds(10))
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        let run = try #require(try await store.runs(RunQuery(functionID: "slow")).first)
        #expect(run.status == .completed)
        #expect(run.output == "finished")
    }

    @Test("after the grace period, runs still in flight are cancelled and released for another worker")
    func releasesAfterGrace() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let client = StepwiseClient(id: "test-app", store: store)
        let entered = Doorbell()
        let attempts = Counter()
        try client.createFunction(id: "stuck", trigger: .event("stuck")) { event, step in
            try await step.run("long") { () -> String in
                attempts.hit("long")
                if attempts["long"] == 1 {
                    entered.ring()
                    try await Task.sleep(for: .seconds(3600))
                }
                return "second attempt"
            }
        }
        let worker = client.worker(.init(shutdownGracePeriod: .milliseconds(200)))
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                try await client.registerFunctions()
                try await client.send(Event(name: "stuck"))
                await entered.wait(timeout: .seconds(10))
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        let released = try #require(try await store.runs(RunQuery(functionID: "stuck")).first)
        #expect(released.status == .queued, "released, not failed")
        #expect(try await store.steps(runID: released.id).isEmpty, "a cancelled step records nothing")

        // The next worker takes it up at once (no waiting for a lease to run out).
        try await client.worker().drain()
        let run = try #require(try await store.run(id: released.id, environment: "default"))
        #expect(run.status == .completed)
        #expect(run.output == "second attempt")
    }
}
