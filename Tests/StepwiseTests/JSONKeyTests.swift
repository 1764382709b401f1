import Testing
@testable import Stepwise

@Suite("Object keys are compared by their Unicode scalars")
struct JSONKeyTests {
    @Test("keys that are canonically equivalent but differ in scalars stay two keys when parsed", arguments: [
        ("\u{E9}", "e\u{301}"), ("K", "\u{212A}"), ("\u{212B}", "\u{C5}"),
    ])
    func canonicallyEquivalentKeysParse(first: String, second: String) throws {
        let text = "{" + JSON.string(first).serialized + ":1," + JSON.string(second).serialized + ":2}"
        let parsed = try JSON(parsing: text)
        #expect(parsed.objectValue?.count == 2)
        #expect(parsed[first] == 1)
        #expect(parsed[second] == 2)
        #expect(parsed.serialized == text, "serialization writes both, as parsed")
        #expect(parsed != (try JSON(parsing: "{" + JSON.string(first).serialized + ":1}")))
    }

    @Test("literals, look-ups, equality and the store keep canonically equivalent keys apart")
    func canonicallyEquivalentKeysEverywhere() async throws {
        let literal: JSON = ["\u{E9}": 1, "e\u{301}": 2, "K": 3, "\u{212A}": 4]
        #expect(literal.objectValue?.count == 4)
        #expect(literal["e\u{301}"] == 2)
        #expect(literal["\u{212A}"] == 4)
        #expect(literal != ["\u{E9}": 1, "\u{E9}": 2, "K": 3, "\u{212A}": 4])
        var members = try #require(literal.objectValue)
        members["\u{E9}"] = 10
        #expect(members["e\u{301}"] == 2, "setting one key leaves the other alone")
        #expect(Set([JSON.Key("\u{E9}"), JSON.Key("e\u{301}")]).count == 2)

        let client = try makeClient()
        let id = try await client.send(Event(name: "a", data: literal, user: ["\u{E9}": "x", "e\u{301}": "y"]))
        let stored = try #require(try await client.event(id: id))
        #expect(stored.data.objectValue?.count == 4)
        #expect(stored.data == literal)
        #expect(stored.user?.objectValue?.count == 2)
        // JSON's own Codable conformance, given a decoder that keeps both, keeps both.
        let wrapped = try JSON(encoding: ["payload": literal] as JSON)
        #expect(wrapped["payload"]?.objectValue?.count == 4)
    }
}
