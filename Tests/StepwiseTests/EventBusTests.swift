import Testing
@testable import Stepwise

@Suite("Event bus")
struct EventBusTests {
    func collect(_ subscription: EventSubscription, until marker: EventID) async -> [StoredEvent] {
        var received: [StoredEvent] = []
        for await event in subscription {
            received.append(event)
            if event.id == marker { break }
        }
        return received
    }

    @Test("patterns match exact names, prefixes and everything")
    func patterns() {
        #expect(EventPattern("storefront/cart.checkout.completed").matches("storefront/cart.checkout.completed"))
        #expect(!EventPattern("storefront/cart.checkout.completed").matches("storefront/cart.checkout.completed.v2"))
        #expect(EventPattern("storefront/*").matches("storefront/coupon.used"))
        #expect(!EventPattern("storefront/*").matches("billing/invoice.paid"))
        #expect(!EventPattern("storefront/*").matches("storefront"))
        #expect(EventPattern("*").matches("anything"))
        #expect(EventPattern("a*b").matches("a*b"), "a * not at the end is an ordinary character")
        #expect(!EventPattern("a*b").matches("axb"))
        #expect(EventPattern("storefront/*").description == "storefront/*")
    }

    @Test("subscribers see only the events their pattern matches, in order")
    func filteringAndOrder() async throws {
        let client = try makeClient()
        let storefront = client.subscribe(to: "storefront/*")
        let checkouts = client.subscribe(to: "storefront/cart.checkout.completed")
        let everything = client.subscribe()

        var sent: [EventID] = []
        for n in 0..<20 {
            sent += try await client.send([
                Event(name: "storefront/cart.checkout.completed", data: ["n": .int(Int64(n))]),
                Event(name: "storefront/coupon.used", data: ["n": .int(Int64(n))]),
                Event(name: "billing/invoice.paid", data: ["n": .int(Int64(n))]),
            ])
        }
        let marker = try await client.send(Event(name: "storefront/cart.checkout.completed", data: ["marker": true]))

        let all = await collect(everything, until: marker)
        #expect(all.map(\.id) == sent + [marker])

        let fromStorefront = await collect(storefront, until: marker)
        #expect(fromStorefront.map(\.id) == all.filter { $0.name.hasPrefix("storefront/") }.map(\.id))

        let onlyCheckouts = await collect(checkouts, until: marker)
        #expect(onlyCheckouts.map(\.id) == all.filter { $0.name == "storefront/cart.checkout.completed" }.map(\.id))
        #expect(onlyCheckouts.count == 21)
    }

    @Test("events of concurrent senders arrive in id order")
    func commitOrder() async throws {
        let directory = try TemporaryDirectory()
        let client = try makeClient(store: try SQLiteStore(.init(path: directory.path("bus.db"))))
        let subscription = client.subscribe(bufferSize: 10_000)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sender in 0..<8 {
                group.addTask {
                    for n in 0..<25 { try await client.send(Event(name: "s\(sender)", data: ["n": .int(Int64(n))])) }
                }
            }
            try await group.waitForAll()
        }
        let marker = try await client.send(Event(name: "marker"))
        let received = await collect(subscription, until: marker)
        #expect(received.count == 201)
        #expect(zip(received, received.dropFirst()).allSatisfy { $0.id < $1.id })
    }

    @Test("a slow subscriber never blocks send: the oldest buffered events are dropped and counted")
    func slowSubscriber() async throws {
        let client = try makeClient()
        let slow = client.subscribe(bufferSize: 10)
        // Nobody reads `slow` while 100 events are sent: send must not wait for it.
        let ids = try await client.send((0..<100).map { Event(name: "a", data: ["n": .int(Int64($0))]) })
        #expect(slow.droppedCount == 90)
        var kept: [EventID] = []
        for await event in slow {
            kept.append(event.id)
            if kept.count == 10 { break }
        }
        #expect(kept == Array(ids.suffix(10)), "the newest events are the ones kept")
    }

    @Test("a refused batch publishes nothing")
    func refusedBatch() async throws {
        let client = try makeClient()
        let subscription = client.subscribe()
        await #expect(throws: EventValidationError.self) {
            try await client.send([Event(name: "ok"), Event(name: "")])
        }
        let marker = try await client.send(Event(name: "marker"))
        let received = await collect(subscription, until: marker)
        #expect(received.map(\.id) == [marker])
    }

    @Test("a subscription ends when its task is cancelled, and leaves the bus")
    func cancellation() async throws {
        let client = try makeClient()
        let subscription = client.subscribe()
        #expect(client.bus.subscriberCount == 1)
        let task = Task {
            var count = 0
            for await _ in subscription { count += 1 }
            return count
        }
        try await client.send(Event(name: "a"))
        task.cancel()
        _ = await task.value
        #expect(client.bus.subscriberCount == 0)
    }

    @Test("a subscriber sees only its client's environment")
    func environmentFilter() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let production = try makeClient(store: store)
        let subscription = production.subscribe()
        // Another client on the same store, in another environment, has a bus of its own;
        // the bus itself filters by environment for subscribers that ask.
        let bus = EventBus()
        let branchOnly = bus.subscribe(in: "branch")
        let now: Int64 = 1_800_000_000_000
        let generator = ULIDGenerator()
        let a = StoredEvent(id: EventID(generator.next(milliseconds: now)), environment: "default", name: "a", data: [:], user: nil, dedupeID: nil, ts: now, v: nil, receivedAt: now)
        let b = StoredEvent(id: EventID(generator.next(milliseconds: now)), environment: "branch", name: "a", data: [:], user: nil, dedupeID: nil, ts: now, v: nil, receivedAt: now)
        bus.publish([a, b])
        var iterator = branchOnly.makeAsyncIterator()
        #expect(await iterator.next()?.id == b.id)
        let marker = try await production.send(Event(name: "marker"))
        #expect(await collect(subscription, until: marker).map(\.id) == [marker])
    }
}
