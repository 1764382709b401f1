import Testing
@testable import Stepwise

@Suite("ULIDs")
struct ULIDTests {
    @Test("ids are 26 characters of Crockford base 32 and parse back")
    func format() throws {
        let id = ULIDGenerator().next(milliseconds: 1_700_000_000_000)
        let text = id.description
        #expect(text.count == 26)
        #expect(text.allSatisfy { "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains($0) })
        #expect(ULID(text) == id)
        #expect(EventID(text)?.ulid == id)
        #expect(ULID(text.lowercased()) == id)
        #expect(id.milliseconds == 1_700_000_000_000)
    }

    @Test("a known ULID decodes to its time")
    func knownValue() throws {
        // The id in the seed document's Event API answer.
        let id = try #require(EventID("01H08W4TMBNKMEWFD0TYC532GG"))
        #expect(id.description == "01H08W4TMBNKMEWFD0TYC532GG")
        #expect(id.milliseconds == 1_683_925_133_963)  // 2023-05-12T20:58:53.963Z
    }

    @Test("malformed ids are refused", arguments: ["", "01H08W4TMBNKMEWFD0TYC532G", "01H08W4TMBNKMEWFD0TYC532GGG", "01H08W4TMBNKMEWFD0TYC532GU", "81H08W4TMBNKMEWFD0TYC532GG", "01H08W4TMBNKMEWFD0TYC532G!"])
    func malformed(text: String) {
        #expect(EventID(text) == nil)
    }

    @Test("ids increase strictly within a millisecond and when the clock steps back")
    func monotonic() {
        let generator = ULIDGenerator()
        var previous = generator.next(milliseconds: 2_000)
        for ms in [2_000, 2_000, 1_999, 1_000, 2_001, 2_001] as [Int64] {
            let next = generator.next(milliseconds: ms)
            #expect(next > previous)
            #expect(next.description > previous.description)
            previous = next
        }
    }

    @Test("ids stay unique and ordered under many concurrent callers")
    func concurrent() async {
        let generator = ULIDGenerator()
        let perTask = 2_000
        let batches = await withTaskGroup(of: [ULID].self) { group in
            for _ in 0..<16 {
                group.addTask {
                    (0..<perTask).map { _ in generator.next(milliseconds: 5_000) }
                }
            }
            return await group.reduce(into: [[ULID]]()) { $0.append($1) }
        }
        for batch in batches {
            #expect(zip(batch, batch.dropFirst()).allSatisfy { $0 < $1 })
        }
        #expect(Set(batches.joined()).count == 16 * perTask)
    }

    @Test("event and run ids are distinct types over the same ULID text, encoded as strings")
    func distinctIDTypes() throws {
        let ulid = ULIDGenerator().next(milliseconds: 1_700_000_000_000)
        let event = EventID(ulid)
        let run = RunID(ulid)
        #expect(event.description == run.description && event.milliseconds == 1_700_000_000_000)
        #expect(ObjectIdentifier(EventID.self) != ObjectIdentifier(RunID.self), "an event id is no run id")
        let encoded = try JSON(encoding: [event])
        #expect(encoded == [.string(ulid.description)])
        #expect(try encoded.decode(as: [RunID].self) == [run])
        #expect(RunID("not an id") == nil)
    }
}
