import Foundation
import Synchronization
import Testing
@testable import Stepwise
import StepwiseTesting

@Suite("Sending and reading events")
struct SendTests {
    @Test("send answers ids in input order, increasing, and each reads back")
    func idsInOrder() async throws {
        let client = try makeClient()
        let events = (0..<50).map { Event(name: "storefront/item.imported", data: ["n": .int(Int64($0))]) }
        let ids = try await client.send(events)
        #expect(ids.count == 50)
        #expect(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 })
        for (index, id) in ids.enumerated() {
            let stored = try #require(try await client.event(id: id))
            #expect(stored.data["n"] == .int(Int64(index)))
        }
    }

    @Test("ids are unique and every event is stored under many concurrent senders")
    func concurrentSenders() async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteStore(.init(path: directory.path("events.db")))
        let client = try makeClient(store: store, clock: SystemWallClock())
        let senders = 16
        let perSender = 40
        let results = try await withThrowingTaskGroup(of: [EventID].self) { group in
            for sender in 0..<senders {
                group.addTask {
                    var ids: [EventID] = []
                    for n in 0..<perSender {
                        ids.append(try await client.send(Event(name: "load/\(sender)", data: ["n": .int(Int64(n))])))
                    }
                    return ids
                }
            }
            return try await group.reduce(into: [[EventID]]()) { $0.append($1) }
        }
        for ids in results {
            // One sender's ids increase, since each send returns after the one before committed.
            #expect(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 })
        }
        let all = Set(results.joined())
        #expect(all.count == senders * perSender)
        let stored = try await allEvents(store)
        #expect(Set(stored.map(\.id)) == all)
    }

    @Test("concurrent writes share transactions (group commit)")
    func groupCommit() async throws {
        let directory = try TemporaryDirectory()
        let largest = Mutex(0)
        let store = try SQLiteStore(.init(path: directory.path("events.db")), commitObserver: { writes in
            largest.withLock { $0 = max($0, writes) }
        })
        let client = try makeClient(store: store)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<64 {
                group.addTask { try await client.send(Event(name: "a", data: ["n": .int(Int64(n))])) }
            }
            try await group.waitForAll()
        }
        #expect(largest.withLock { $0 } > 1, "64 concurrent sends were committed one transaction each")
        #expect(try await allEvents(store).count == 64)
    }

    @Test("payloads round-trip exactly through a file and a reopen")
    func roundTripThroughFile() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("events.db")
        let data: JSON = [
            "int": .int(Int64.max), "negative": -42, "double": 0.1, "tiny": .double(.leastNonzeroMagnitude), "big": 1.7976931348623157e308,
            "unicode": "héllo 你好 👋🏽 \u{0} \"quoted\" \\", "null": nil, "bool": true,
            "nested": ["array": [1, [2, [3, ["deep": "yes"]]], [:], []], "empty": ""],
        ]
        let user: JSON = ["email": "test@example.com", "id": 123]
        let id: EventID
        do {
            let client = try makeClient(store: try SQLiteStore(.init(path: path)))
            id = try await client.send(Event(name: "billing/invoice.paid", data: data, user: EventPayload(json: user), id: "invoice-paid-1", ts: 1_700_000_000_123, v: "2024-01-14.1"))
        }
        let reopened = try makeClient(store: try SQLiteStore(.init(path: path)))
        let stored = try #require(try await reopened.event(id: id))
        #expect(stored.name == "billing/invoice.paid")
        #expect(stored.data == data)
        #expect(stored.data.serialized == data.serialized, "key order or number text changed")
        #expect(stored.user == user)
        #expect(stored.dedupeID == "invoice-paid-1")
        #expect(stored.ts == 1_700_000_000_123)
        #expect(stored.v == "2024-01-14.1")
        #expect(stored.environment == "default")
    }

    struct CartCompleted: Codable, Equatable, Sendable {
        let cartId: String
        let itemIds: [String]
        let total: Double
    }

    @Test("typed payloads are stored as JSON and decode back")
    func typedPayloads() async throws {
        let client = try makeClient()
        let cart = CartCompleted(cartId: "ed12c8bde", itemIds: ["9f08sdh84", "sdf098487"], total: 19.99)
        let id = try await client.send(Event(name: "storefront/cart.checkout.completed", data: cart))
        let stored = try #require(try await client.event(id: id))
        #expect(stored.data["cartId"] == "ed12c8bde")
        #expect(try stored.decodeData(as: CartCompleted.self) == cart)
    }

    @Test("ts defaults to the receive time")
    func defaultTimestamp() async throws {
        let clock = ManualClock(1_750_000_000_000)
        let client = try makeClient(clock: clock)
        let id = try await client.send(Event(name: "a"))
        let stored = try #require(try await client.event(id: id))
        #expect(stored.ts == 1_750_000_000_000)
        #expect(stored.receivedAt == 1_750_000_000_000)
    }

    @Test("an unknown id reads as nil")
    func unknownID() async throws {
        let client = try makeClient()
        #expect(try await client.event(id: EventID(ULIDGenerator().next(milliseconds: 1))) == nil)
    }

    @Test("events list by name and time range, newest first, in pages")
    func listing() async throws {
        let clock = ManualClock(1_800_000_000_000)
        let client = try makeClient(clock: clock)
        var checkouts: [EventID] = []
        for n in 0..<25 {
            checkouts.append(try await client.send(Event(name: "storefront/cart.checkout.completed", data: ["n": .int(Int64(n))])))
            try await client.send(Event(name: "storefront/coupon.used", data: ["n": .int(Int64(n))]))
            clock.advance(by: .seconds(1))
        }
        // Pages of 10, newest first, no overlap, nothing missed.
        var seen: [EventID] = []
        var cursor: EventCursor?
        var pages = 0
        repeat {
            let page = try await client.events(named: "storefront/cart.checkout.completed", limit: 10, cursor: cursor)
            #expect(page.events.allSatisfy { $0.name == "storefront/cart.checkout.completed" })
            seen += page.events.map(\.id)
            cursor = page.nextCursor
            pages += 1
        } while cursor != nil
        #expect(pages == 3)
        #expect(seen == checkouts.reversed())

        // A time range: [since, until) on receive time.
        let start: Int64 = 1_800_000_000_000
        let ranged = try await client.events(
            named: "storefront/cart.checkout.completed", since: Date(milliseconds: start + 5_000), until: Date(milliseconds: start + 10_000))
        #expect(ranged.events.map(\.id) == Array(checkouts[5..<10].reversed()))
        #expect(ranged.nextCursor == nil)

        // Without a name: every event.
        let everything = try await client.events(limit: 1000)
        #expect(everything.events.count == 50)

        // The cursor survives its text form.
        let first = try await client.events(limit: 7)
        let cursorText = try #require(first.nextCursor).rawValue
        let parsed = EventCursor(rawValue: cursorText)
        #expect(parsed == first.nextCursor)
        let second = try await client.events(limit: 7, cursor: parsed)
        #expect(second.events.first.map { $0.id < first.events.last!.id } == true)
    }

    @Test("bad queries are refused", arguments: [0, -1, 1001])
    func badLimit(limit: Int) async throws {
        let client = try makeClient()
        await #expect(throws: EventQueryError.self) { try await client.events(limit: limit) }
    }

    @Test("a reversed time range is refused")
    func reversedRange() async throws {
        let client = try makeClient()
        await #expect(throws: EventQueryError.self) { try await client.events(since: Date(milliseconds: 10), until: Date(milliseconds: 5)) }
    }

    @Test("environments keep their events apart")
    func environments() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let production = try makeClient(store: store)
        let branch = try makeClient(store: store, environment: "feature/my-branch")
        let a = try await production.send(Event(name: "a"))
        let b = try await branch.send(Event(name: "a"))
        #expect(try await production.event(id: b) == nil)
        #expect(try await branch.event(id: a) == nil)
        #expect(try await branch.event(id: b)?.environment == "feature/my-branch")
        #expect(try await production.events().events.map(\.id) == [a])
    }
}
