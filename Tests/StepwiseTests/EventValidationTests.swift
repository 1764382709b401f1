import Testing
@testable import Stepwise

@Suite("Event validation")
struct EventValidationTests {
    /// Sends `events` and expects the batch refused with `expected`, and nothing stored.
    func expectRefused(
        _ events: [Event], _ expected: EventValidationError, limits: EventLimits = .default,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let store = try SQLiteStore(.init(path: nil))
        let client = try makeClient(store: store, limits: limits)
        await #expect(throws: expected, sourceLocation: sourceLocation) {
            try await client.send(events)
        }
        #expect(try await allEvents(store).isEmpty, "a refused batch stored something", sourceLocation: sourceLocation)
    }

    let good = Event(name: "storefront/cart.checkout.completed", data: ["cartId": "ed12c8bde"])

    @Test("an empty or blank name is refused", arguments: ["", "   ", "\n\t"])
    func emptyName(name: String) async throws {
        try await expectRefused([good, Event(name: name)], .init(index: 1, field: .name, problem: .emptyName))
    }

    @Test("reserved prefixes are refused for user events", arguments: [
        ("stepwise/function.finished", "stepwise/"), ("inngest/function.failed", "inngest/"), ("Stepwise/anything", "stepwise/"),
    ])
    func reservedName(name: String, prefix: String) async throws {
        try await expectRefused([Event(name: name)], .init(index: 0, field: .name, problem: .reservedName(prefix: prefix)))
    }

    @Test("data must be an object")
    func dataNotObject() async throws {
        try await expectRefused([good, good, Event(name: "a", data: [1, 2])], .init(index: 2, field: .data, problem: .notAnObject(found: "an array")))
        try await expectRefused([Event(name: "a", data: "text")], .init(index: 0, field: .data, problem: .notAnObject(found: "a string")))
        try await expectRefused([Event(name: "a", data: nil)], .init(index: 0, field: .data, problem: .notAnObject(found: "null")))
        try await expectRefused([Event(name: "a", data: 42)], .init(index: 0, field: .data, problem: .notAnObject(found: "a number")))
        // A Codable payload that does not encode as an object is refused the same way.
        try await expectRefused([Event(name: "a", data: ["x", "y"] as [String])], .init(index: 0, field: .data, problem: .notAnObject(found: "an array")))
    }

    @Test("user must be an object when present")
    func userNotObject() async throws {
        try await expectRefused([Event(name: "a", user: EventPayload(json: [1]))], .init(index: 0, field: .user, problem: .notAnObject(found: "an array")))
    }

    struct Unencodable: Codable, Sendable { let value: Double }

    @Test("a payload that cannot be encoded is refused, naming the event")
    func unencodable() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let client = try makeClient(store: store)
        await #expect {
            try await client.send([good, Event(name: "a", data: Unencodable(value: .nan))])
        } throws: { error in
            guard let error = error as? EventValidationError, case .unencodable = error.problem else { return false }
            return error.index == 1 && error.field == .data && error.description.hasPrefix("events[1].data:")
        }
        #expect(try await allEvents(store).isEmpty)
    }

    @Test("ts must be plausible milliseconds", arguments: [Int64(1_700_000_000), 0, -1, 1_700_000_000_000_000, 946_684_799_999])
    func implausibleTimestamp(ts: Int64) async throws {
        try await expectRefused([good, Event(name: "a", ts: ts)], .init(index: 1, field: .ts, problem: .implausibleTimestamp(ts)))
    }

    @Test("plausible timestamps are kept as given")
    func plausibleTimestamp() async throws {
        let client = try makeClient()
        let id = try await client.send(Event(name: "a", ts: 1_684_000_000_000))
        #expect(try await client.event(id: id)?.ts == 1_684_000_000_000)
    }

    @Test("the message suggests seconds for a seconds-sized ts")
    func secondsHint() {
        let error = EventValidationError(index: 0, field: .ts, problem: .implausibleTimestamp(1_700_000_000))
        #expect(error.description.contains("seconds instead of milliseconds"))
    }

    @Test("an event over the per-event limit is refused")
    func eventTooLarge() async throws {
        let big = Event(name: "a", data: ["blob": .string(String(repeating: "x", count: 256 * 1024))])
        let store = try SQLiteStore(.init(path: nil))
        let client = try makeClient(store: store)
        await #expect {
            try await client.send([good, big])
        } throws: { error in
            guard let error = error as? EventValidationError, case .eventTooLarge(let bytes, 262_144) = error.problem else { return false }
            return error.index == 1 && bytes > 262_144
        }
        #expect(try await allEvents(store).isEmpty)
    }

    @Test("the size counted is the event's JSON, exactly")
    func exactSize() async throws {
        // {"name":"a","data":{"k":"vvvv"}} is 32 bytes.
        let event = Event(name: "a", data: ["k": "vvvv"])
        let fits = try makeClient(limits: .init(maxEventBytes: 32))
        _ = try await fits.send(event)
        let tooSmall = try makeClient(limits: .init(maxEventBytes: 31))
        await #expect(throws: EventValidationError(index: 0, field: nil, problem: .eventTooLarge(bytes: 32, limit: 31))) {
            try await tooSmall.send(event)
        }
    }

    @Test("a batch over the request limit is refused whole")
    func batchTooLarge() async throws {
        let chunk = String(repeating: "x", count: 100 * 1024)
        let events = (0..<6).map { Event(name: "a", data: ["blob": .string(chunk), "n": .int(Int64($0))]) }
        let store = try SQLiteStore(.init(path: nil))
        let client = try makeClient(store: store)
        await #expect {
            try await client.send(events)
        } throws: { error in
            guard let error = error as? EventValidationError, case .batchTooLarge(_, 524_288) = error.problem else { return false }
            return error.index == nil && error.description.hasPrefix("batch:")
        }
        #expect(try await allEvents(store).isEmpty)
    }

    @Test("a batch of more than 5000 events is refused")
    func tooManyEvents() async throws {
        let events = Array(repeating: Event(name: "a"), count: 5001)
        try await expectRefused(events, .init(index: nil, field: nil, problem: .tooManyEvents(count: 5001, limit: 5000)))
        let client = try makeClient()
        #expect(try await client.send(Array(repeating: Event(name: "a"), count: 5000)).count == 5000)
    }

    @Test("errors name the event and the field")
    func descriptions() {
        let error = EventValidationError(index: 3, field: .data, problem: .notAnObject(found: "an array"))
        #expect(error.description == "events[3].data: must be a JSON object, not an array")
    }

    @Test("an empty dedupe id means none")
    func emptyDedupeID() async throws {
        let client = try makeClient()
        let ids = try await client.send([Event(name: "a", id: ""), Event(name: "a", id: "")])
        #expect(ids[0] != ids[1])
        #expect(try await client.event(id: ids[0])?.dedupeID == nil)
    }

    @Test("an empty batch stores nothing and answers no ids")
    func emptyBatch() async throws {
        let client = try makeClient()
        #expect(try await client.send([]).isEmpty)
    }

    @Test("control characters in a name are refused, naming the first", arguments: [
        ("app/\u{1B}[2Jcleared", "\u{1B}"), ("app/bell\u{07}", "\u{07}"), ("app/nul\u{0}", "\u{0}"),
        ("app/line\nforged", "\n"), ("app/del\u{7F}", "\u{7F}"), ("app/c1\u{85}", "\u{85}"), ("app/csi\u{9B}", "\u{9B}"),
    ])
    func controlCharacterInName(name: String, scalar: String) async throws {
        let expected = try #require(scalar.unicodeScalars.first)
        try await expectRefused([good, Event(name: name)], .init(index: 1, field: .name, problem: .controlCharacter(expected)))
    }

    @Test("control characters in an id are refused; other characters pass")
    func controlCharacterInID() async throws {
        try await expectRefused(
            [good, good, Event(name: "a", id: "order-1\r\nx-forged: yes")], .init(index: 2, field: .id, problem: .controlCharacter("\r")))
        let client = try makeClient()
        let ids = try await client.send([Event(name: "app/é ü 👋 \u{A0}nbsp", id: "ok-\u{2028}-\u{A0}")])
        #expect(ids.count == 1, "printable and non-Cc characters are not control characters")
    }
}
