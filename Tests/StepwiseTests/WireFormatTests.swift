import Testing
@testable import Stepwise

@Suite("Events in the Event API's wire format")
struct WireFormatTests {
    @Test("a batch written for the wire reads back as the same events")
    func roundTrip() throws {
        let events = [
            Event(name: "app/\"quoted\" \\ name ü", data: ["k": "v\n", "n": [1, 2.5, true, nil], "o": ["deep": [:]]]),
            Event(name: "b", data: [:], user: ["email": "a@example.com"], id: "dedupe \"1\"", ts: 1_800_000_000_123, v: "2024-01-14.1"),
        ]
        let body = try Event.wireFormat(events, now: 1_800_000_000_000)
        let parsed = try JSON(parsing: body)
        let back = try Event.batch(fromWireFormat: parsed)
        #expect(back.count == 2)
        #expect(back[0].name == events[0].name)
        #expect(try back[0].data.json() == ["k": "v\n", "n": [1, 2.5, true, nil], "o": ["deep": [:]]])
        #expect(back[0].user == nil && back[0].id == nil && back[0].v == nil)
        #expect(back[0].ts == 1_800_000_000_000, "an event without ts is stamped with the sender's clock")
        #expect(try back[1].user?.json() == ["email": "a@example.com"])
        #expect(back[1].id == "dedupe \"1\"")
        #expect(back[1].ts == 1_800_000_000_123)
        #expect(back[1].v == "2024-01-14.1")
    }

    @Test("an invalid batch is refused before it is written, naming the event and field")
    func validates() {
        #expect(throws: EventValidationError(index: 1, field: .name, problem: .emptyName)) {
            try Event.wireFormat([Event(name: "ok"), Event(name: "")], now: 1_800_000_000_000)
        }
    }
}
