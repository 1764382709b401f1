import Foundation
import Testing
@testable import Stepwise
import StepwiseTesting

struct Envelope: Codable, Equatable, Sendable {
    let payload: JSON
    let amount: Double
}

struct Assorted: Codable, Equatable, Sendable {
    let bytes: Data
    let link: URL
    let price: Decimal
    let ratio: Float
    let big: UInt64
    let small: Int8
    let missing: String?
    let tags: [String: Int]
}

@Suite("Codable values convert to and from JSON without a trip through text")
struct JSONValueCodingTests {
    @Test("JSON inside a Codable type keeps its order and its canonically equivalent keys, both ways")
    func jsonInsideCodable() throws {
        let payload: JSON = ["zeta": 1, "\u{E9}": 1, "e\u{301}": 2, "alpha": ["K": true, "\u{212A}": false]]
        let json = try JSON(encoding: Envelope(payload: payload, amount: 10.0))
        #expect(json.serialized == #"{"amount":10.0,"payload":{"zeta":1,"é":1,"é":2,"alpha":{"K":true,"K":false}}}"#)
        let back = try json.decode(as: Envelope.self)
        #expect(back.payload.serialized == payload.serialized, "order and every key kept")
        #expect(back.amount == 10.0)
    }

    @Test("a step result holding JSON and doubles is stored as given, and replays the same")
    func stepResult() async throws {
        let harness = try Harness()
        let payload: JSON = ["zeta": 1, "alpha": 2]
        try harness.client.createFunction(id: "f", trigger: .event("go")) { event, step in
            let totals = try await step.run("totals") { ["net": 10.0, "tax": -0.0] as [String: Double] }
            let envelope = try await step.run("envelope") { Envelope(payload: payload, amount: 2.5) }
            return envelope.payload == payload && totals["tax"]?.sign == .minus
        }
        try await harness.client.send(Event(name: "go"))
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "f")
        #expect(run.output == true)
        let steps = try await harness.client.steps(ofRun: run.id)
        #expect(steps.map { $0.output?.serialized } == [
            #"{"net":10.0,"tax":-0.0}"#, #"{"amount":2.5,"payload":{"zeta":1,"alpha":2}}"#,
        ])
    }

    @Test("Data, URL, Decimal, Float, wide and narrow integers, optionals and dictionaries read back as JSONEncoder wrote them")
    func foundationTypes() throws {
        let value = Assorted(
            bytes: Data([0, 1, 2, 250]), link: try #require(URL(string: "https://example.com/a?b=c")),
            price: try #require(Decimal(string: "12.34")), ratio: 0.1, big: UInt64(Int64.max), small: -8, missing: nil,
            tags: ["b": 2, "a": 1])
        let json = try JSON(encoding: value)
        #expect(json["bytes"] == "AAEC+g==")
        #expect(json["link"] == "https://example.com/a?b=c")
        #expect(json["price"] == 12.34)
        #expect(json["ratio"] == 0.1)
        #expect(json["big"] == .int(Int64.max))
        #expect(try JSON(encoding: UInt64.max) == .double(Double(UInt64.max)), "past Int64, a double, as its text would parse")
        #expect(json["missing"] == nil, "a nil optional is left out, as JSONEncoder leaves it out")
        #expect(json["tags"]?.serialized == #"{"a":1,"b":2}"#, "a Dictionary's keys are sorted, so its text is always the same")
        let back = try json.decode(as: Assorted.self)
        #expect(back.bytes == value.bytes && back.link == value.link && back.price == value.price && back.ratio == value.ratio)
        #expect(back.big == value.big && back.small == -8 && back.tags == value.tags && back.missing == nil)
        // A double with no fraction decodes as an integer type, as JSONDecoder allowed.
        #expect(try (["n": .double(3)] as JSON).decode(as: [String: Int].self) == ["n": 3])
    }

    @Test("what has no JSON form, or does not fit, is a typed error, not a trap")
    func errors() throws {
        #expect(throws: JSONConversionError.self) { try JSON(encoding: ["x": Double.nan]) }
        #expect(throws: JSONConversionError.self) { try (["small": 300] as JSON).decode(as: [String: Int8].self) }
        #expect(throws: JSONConversionError.self) { try (["n": "1"] as JSON).decode(as: [String: Int].self) }
        #expect(throws: JSONConversionError.self) { try JSON(encoding: Nest.nested(depth: 2000)) }
    }
}
