@_spi(StoreImplementation) import Stepwise
import StepwiseTesting
import Synchronization
import Testing

/// The in-memory store under the whole engine, and the rules the conformance suite cannot see
/// from outside a store: a requirement that throws halfway changes nothing, and an
/// after-commit hook gets every event stored, in the order stored.
@Suite("In-memory store")
struct InMemoryStoreTests {
    struct Order: Codable, Sendable, Equatable {
        let total: Int
        let receipt: String
        let paidBy: String
    }

    @Test("a function with step.run, sendEvent, sleep, waitForEvent and invoke runs to its end")
    func endToEnd() async throws {
        let clock = ManualClock()
        let client = StepwiseClient(id: "shop", store: InMemoryStore(), configuration: .init(clock: clock))
        let notified = Mutex(0)
        try client.createFunction(id: "notify", trigger: .event("shop/order.notified")) { _, step in
            try await step.perform("count") { notified.withLock { $0 += 1 } }
        }
        let receipt = try client.createFunction(id: "receipt", trigger: .invokeOnly) { event, _ in
            "receipt-\(event.data["order"]?.stringValue ?? "?")"
        }
        let bodies = Mutex(0)
        try client.createFunction(id: "order", trigger: .event("shop/order.placed")) { event, step in
            let total = try await step.run("total") { () -> Int in
                bodies.withLock { $0 += 1 }
                return 3 * 7
            }
            let sent = try await step.sendEvent("notify", Event(name: "shop/order.notified", data: event.data))
            try await step.sleep("cool-off", for: .seconds(3600))
            let paid = try await step.waitForEvent("paid", event: "shop/order.paid", timeout: .seconds(86_400), match: "data.order")
            let made = try await step.invoke("receipt", receipt, data: ["order": event.data["order"] ?? .null])
            _ = sent
            return Order(total: total, receipt: made, paidBy: paid?.data["by"]?.stringValue ?? "nobody")
        }
        let worker = client.worker()
        try await client.send(Event(name: "shop/order.placed", data: ["order": "o-1"]))

        let wake = try #require(try await worker.drain(), "the run sleeps until a time")
        #expect(try await client.runs(function: "order").first?.status == .sleeping)
        clock.advance(to: wake)
        _ = try await worker.drain()
        #expect(try await client.runs(function: "order").first?.status == .waiting)

        try await client.send(Event(name: "shop/order.paid", data: ["order": "o-2", "by": "someone else"]))
        try await client.send(Event(name: "shop/order.paid", data: ["order": "o-1", "by": "card"]))
        try await worker.runUntilIdle(advancing: clock)

        let run = try #require(try await client.runs(function: "order").first)
        #expect(run.status == .completed)
        #expect(run.output == ["total": 21, "receipt": "receipt-o-1", "paidBy": "card"])
        #expect(bodies.withLock { $0 } == 1, "a recorded step is never run again")
        #expect(notified.withLock { $0 } == 1, "the sent event triggered its function once")
        let steps = try await client.steps(ofRun: run.id)
        #expect(steps.map(\.key) == ["total", "notify", "cool-off", "paid", "receipt"])
        let sentIDs = try #require(steps.first { $0.key == "notify" }?.sentEventIDs)
        let sent = try #require(try await client.event(id: sentIDs[0]))
        #expect(sent.name == "shop/order.notified")
        #expect(try await client.runs(function: "receipt").first?.status == .completed)
        let finished = try await client.store.events(EventQuery(name: SystemEvent.functionFinished, limit: 100)).events
        #expect(Set(finished.compactMap { $0.data["function_id"]?.stringValue }) == ["order", "notify", "receipt"])
    }

    @Test("a seeded batch refused at its second event leaves the first one's event and runs unstored")
    func refusedAppendChangesNothing() async throws {
        let clock = ManualClock()
        let store = InMemoryStore()
        let client = StepwiseClient(id: "app", store: store, configuration: .init(clock: clock))
        try await store.register(FunctionRegistration(
            environment: "default", appID: "app",
            functions: [FunctionRegistration.Function(id: "f", triggers: [TriggerRegistration(pattern: "*")])],
            isCompleteSet: true, now: clock.now()))
        let first = try await client.send(Event(name: "a", id: "k"))
        // The first try under the seed: its event 0 is a duplicate (not stored), its event 1 is.
        let seed = EventIDSeed.random(milliseconds: clock.now())
        _ = try await client.send([Event(name: "a", id: "k"), Event(name: "b")], environment: "default", idSeed: seed)
        let before = try await store.runs(RunQuery(limit: 1000))
        // Another request under the seed: event 0 is new, and stored with its run, before event 1
        // shows that this is no retry.
        await #expect(throws: EventIDSeedConflict.self) {
            _ = try await client.send([Event(name: "c"), Event(name: "b")], environment: "default", idSeed: seed)
        }
        #expect(try await store.event(id: seed.eventID(at: 0), environment: "default") == nil, "the new event is undone")
        let after = try await store.runs(RunQuery(limit: 1000))
        #expect(after.map(\.id) == before.map(\.id), "so is its run")
        #expect(try await client.send(Event(name: "a", id: "k")) == first, "the dedupe entries are as they were")
    }

    @Test("a checkpoint refused after its events were appended stores none of them, nor its steps")
    func refusedCommitChangesNothing() async throws {
        let clock = ManualClock()
        let store = InMemoryStore()
        let client = StepwiseClient(id: "app", store: store, configuration: .init(clock: clock))
        try await store.register(FunctionRegistration(
            environment: "default", appID: "app",
            functions: [FunctionRegistration.Function(id: "f", triggers: [TriggerRegistration(pattern: "go")])],
            isCompleteSet: true, now: clock.now()))
        try await client.send(Event(name: "go"))
        let claimed = try #require(try await store.claim(ClaimRequest(
            environment: "default", appID: "app", functionIDs: ["f"], owner: "w", now: clock.now(), leaseDuration: 1000, limit: 1)).first)
        // Two seeds one apart: the second event of the first seed has the id the second seed
        // gave its first event, already stored. A batch under the first seed is then partly a
        // first try and partly a retry, which is refused after its first event was appended.
        let seed = try #require(EventIDSeed("\(clock.now()),AAAAAAAAAAAAAA=="))
        let next = try #require(EventIDSeed("\(clock.now()),AAAAAAAAAAAAAQ=="))
        #expect(seed.eventID(at: 1) == next.eventID(at: 0))
        _ = try await store.append(try EventBatch(
            validating: [Event(name: "taken", data: ["n": 1])], environment: "default", receivedAt: clock.now(), idSeed: next))
        let published = Mutex(0)
        let checkpoint = RunCheckpoint(
            lease: claimed.lease, now: clock.now(),
            steps: [StepWrite(StepRecord(
                runID: claimed.run.id, key: "s", stepID: "s", kind: .run, status: .completed, output: 1, error: nil, failedAttempts: 0,
                startedAt: clock.now(), endedAt: clock.now()))],
            events: try EventBatch(
                validating: [Event(name: "fresh"), Event(name: "taken", data: ["n": 1])], environment: "default", receivedAt: clock.now(),
                idSeed: seed
            ) { _ in
                published.withLock { $0 += 1 }
            },
            transition: .complete(output: 1))
        await #expect(throws: EventIDSeedConflict.self) { _ = try await store.commit(checkpoint) }
        #expect(try await store.events(EventQuery(name: "fresh", limit: 10)).events.isEmpty)
        #expect(try await store.steps(runID: claimed.run.id).isEmpty)
        #expect(try await store.run(id: claimed.run.id, environment: "default")?.status == .running)
        #expect(published.withLock { $0 } == 0, "nothing committed, nothing published")
    }

    @Test("after commit, the hook gets the event and the cancellation it set off, in the order stored")
    func afterCommitOrder() async throws {
        let clock = ManualClock()
        let store = InMemoryStore()
        let client = StepwiseClient(id: "app", store: store, configuration: .init(clock: clock))
        try client.createFunction(
            id: "remind", trigger: .event("cart/abandoned"), options: .init(cancelOn: [.event("cart/done", match: "data.cart")])
        ) { _, step in
            try await step.sleep("later", for: .seconds(60))
        }
        try await client.registerFunctions()
        try await client.send(Event(name: "cart/abandoned", data: ["cart": "c"]))
        let subscription = client.bus.subscribe()
        try await client.send(Event(name: "cart/done", data: ["cart": "c"]))
        var names: [String] = []
        for await event in subscription {
            names.append(event.name)
            if names.count == 2 { break }
        }
        #expect(names == ["cart/done", SystemEvent.functionCancelled])
        #expect(try await client.runs(function: "remind").first?.status == .cancelled)
    }

    @Test("dedupe ids, names and environments are compared by their bytes, not by Swift's ==")
    func exactText() async throws {
        let client = StepwiseClient(id: "app", store: InMemoryStore(), configuration: .init(clock: ManualClock()))
        let composed = try await client.send(Event(name: "a", id: "caf\u{E9}"))
        let decomposed = try await client.send(Event(name: "a", id: "cafe\u{301}"))
        #expect(composed != decomposed, "two spellings of café are two dedupe ids")
        #expect(try await client.send(Event(name: "a", id: "caf\u{E9}")) == composed)
    }
}
