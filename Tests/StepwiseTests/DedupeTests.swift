import Testing
@testable import Stepwise
import StepwiseTesting

@Suite("Deduplication")
struct DedupeTests {
    let checkout = Event(name: "storefront/cart.checkout.completed", data: ["cartId": "ed12c8bde"], id: "cart-checkout-completed-ed12c8bde")

    @Test("a repeated id across batches answers the first event's id and stores nothing")
    func acrossBatches() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let client = try makeClient(store: store)
        let first = try await client.send(checkout)
        var changed = checkout
        changed.data = ["cartId": "something else"]  // payload does not matter, only the id
        let second = try await client.send(changed)
        #expect(second == first)
        let stored = try await allEvents(store)
        #expect(stored.count == 1)
        #expect(stored[0].data == ["cartId": "ed12c8bde"])
    }

    @Test("within one batch the first event wins")
    func withinBatch() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let client = try makeClient(store: store)
        var other = checkout
        other.data = ["cartId": "second"]
        let ids = try await client.send([checkout, Event(name: "a"), other, checkout])
        #expect(ids[0] == ids[2])
        #expect(ids[0] == ids[3])
        #expect(ids[1] != ids[0])
        let stored = try await allEvents(store)
        #expect(stored.map(\.id) == [ids[0], ids[1]])
        #expect(stored[0].data == ["cartId": "ed12c8bde"])
    }

    @Test("the id is global across event names")
    func acrossNames() async throws {
        let client = try makeClient()
        let imported = try await client.send(Event(name: "storefront/item.imported", id: "9f08sdh84"))
        let deleted = try await client.send(Event(name: "storefront/item.deleted", id: "9f08sdh84"))
        #expect(imported == deleted)
    }

    @Test("after the window a repeated id is a new event, and starts a new window")
    func afterWindow() async throws {
        let clock = ManualClock()
        let store = try SQLiteStore(.init(path: nil))
        let client = try makeClient(store: store, clock: clock)
        let first = try await client.send(checkout)
        clock.advance(by: .seconds(24 * 3600 - 1))
        #expect(try await client.send(checkout) == first, "still inside the 24 h window")
        clock.advance(by: .seconds(1))
        let second = try await client.send(checkout)
        #expect(second != first, "the window is 24 h from the first event")
        clock.advance(by: .seconds(3600))
        #expect(try await client.send(checkout) == second)
        #expect(try await allEvents(store).count == 2)
    }

    @Test("the window is configurable")
    func configurableWindow() async throws {
        let clock = ManualClock()
        let client = try makeClient(clock: clock, dedupeWindow: .seconds(60))
        let first = try await client.send(checkout)
        clock.advance(by: .seconds(59))
        #expect(try await client.send(checkout) == first)
        clock.advance(by: .seconds(1))
        #expect(try await client.send(checkout) != first)
    }

    @Test("dedupe ids are kept per environment")
    func perEnvironment() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let a = try await makeClient(store: store).send(checkout)
        let b = try await makeClient(store: store, environment: "branch").send(checkout)
        #expect(a != b)
    }

    @Test("concurrent sends of one id store it once")
    func concurrentDuplicates() async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteStore(.init(path: directory.path("events.db")))
        let client = try makeClient(store: store)
        let ids = try await withThrowingTaskGroup(of: EventID.self) { group in
            for _ in 0..<32 {
                group.addTask { try await client.send(checkout) }
            }
            return try await group.reduce(into: Set<EventID>()) { $0.insert($1) }
        }
        #expect(ids.count == 1)
        #expect(try await allEvents(store).count == 1)
    }

    @Test("a duplicate is not published on the bus")
    func duplicatesNotPublished() async throws {
        let client = try makeClient()
        let subscription = client.subscribe()
        let first = try await client.send(checkout)
        _ = try await client.send(checkout)
        let marker = try await client.send(Event(name: "marker"))
        var received: [EventID] = []
        for await event in subscription {
            received.append(event.id)
            if event.id == marker { break }
        }
        #expect(received == [first, marker])
    }
}
