import Foundation
import Testing
@testable import Stepwise
import StepwiseTesting

@Suite("Event id seeds, environments and reruns")
struct SeedEnvironmentRerunTests {
    @Test("a seed's text form round-trips, and gives each index its own id at the seed's time")
    func seedText() throws {
        let seed = try #require(EventIDSeed("1743130137367,eii2YKXRVTJPuA=="))
        #expect(seed.milliseconds == 1_743_130_137_367)
        #expect(seed.description == "1743130137367,eii2YKXRVTJPuA==")
        #expect(EventIDSeed(seed.description) == seed)
        let ids = (0..<100).map { seed.eventID(at: $0) }
        #expect(Set(ids).count == 100)
        #expect(ids == ids.sorted(), "ids of one request sort in the request's order")
        #expect(ids.allSatisfy { $0.milliseconds == 1_743_130_137_367 })
        for bad in ["", "1743130137367", "abc,eii2YKXRVTJPuA==", "1743130137367,not base64!", "1743130137367,AAAA",
                    "-5,eii2YKXRVTJPuA==", "281474976710656,eii2YKXRVTJPuA==", "1,eii2YKXRVTJPuA==,x"] {
            #expect(EventIDSeed(bad) == nil, "\(bad)")
        }
        // Entropy at the top wraps around instead of trapping.
        let top = try #require(EventIDSeed("1,/////////////w=="))
        #expect(top.eventID(at: 1) != top.eventID(at: 0))
    }

    @Test("a batch sent twice with the same seed gets the same ids and is stored, and triggers, once")
    func seededRetry() async throws {
        let harness = try Harness()
        let counter = Counter()
        try harness.client.createFunction(id: "count", trigger: .event("order/placed")) { event, step in
            counter.hit("count")
        }
        let seed = EventIDSeed.random(milliseconds: harness.clock.now())
        let batch = [Event(name: "order/placed", data: ["n": 1]), Event(name: "order/placed", data: ["n": 2])]
        let first = try await harness.client.send(batch, environment: "default", idSeed: seed)
        #expect(first == [seed.eventID(at: 0), seed.eventID(at: 1)])
        let again = try await harness.client.send(batch, environment: "default", idSeed: seed)
        #expect(again == first)
        try await harness.runUntilIdle()
        #expect(try await allEvents(harness.client.store).filter { $0.name == "order/placed" }.count == 2)
        #expect(counter["count"] == 2)

        // A different seed is a different request.
        let other = try await harness.client.send(batch, environment: "default", idSeed: EventIDSeed.random(milliseconds: harness.clock.now()))
        #expect(Set(other).isDisjoint(with: first))
    }

    @Test("a seed whose ids another environment holds is refused, and stores nothing")
    func seedAcrossEnvironments() async throws {
        let client = try makeClient()
        let seed = EventIDSeed.random(milliseconds: 1_800_000_000_000)
        _ = try await client.send([Event(name: "a")], environment: "default", idSeed: seed)
        await #expect(throws: EventIDSeedConflict.self) {
            try await client.send([Event(name: "b"), Event(name: "a")], environment: "feature/x", idSeed: seed)
        }
        #expect(try await allEvents(client.store, environment: "feature/x").isEmpty)

        // The same seed on another request in the same environment is refused too, rather than
        // answered with the ids of events this request did not send.
        await #expect(throws: EventIDSeedConflict.self) {
            try await client.send([Event(name: "a", data: ["other": true])], environment: "default", idSeed: seed)
        }
        #expect(try await client.send([Event(name: "a")], environment: "default", idSeed: seed) == [seed.eventID(at: 0)])
        #expect(try await allEvents(client.store).count == 1)
    }

    @Test("a seeded retry must repeat the whole event: another user, ts, v or id is another request", arguments: [
        Event(name: "a", data: ["n": 1], user: ["id": "someone else"], ts: 1_800_000_000_000, v: "1"),
        Event(name: "a", data: ["n": 1], user: ["id": "u1"], ts: 1_800_000_000_001, v: "1"),
        Event(name: "a", data: ["n": 1], user: ["id": "u1"], ts: 1_800_000_000_000, v: "2"),
        Event(name: "a", data: ["n": 1], user: ["id": "u1"], ts: 1_800_000_000_000),
        Event(name: "a", data: ["n": 1], user: ["id": "u1"], id: "dedupe-1", ts: 1_800_000_000_000, v: "1"),
    ])
    func seededRetryComparesWholeEvent(changed: Event) async throws {
        let client = try makeClient()
        let seed = EventIDSeed.random(milliseconds: 1_800_000_000_000)
        let original = Event(name: "a", data: ["n": 1], user: ["id": "u1"], ts: 1_800_000_000_000, v: "1")
        _ = try await client.send([original], environment: "default", idSeed: seed)
        await #expect(throws: EventIDSeedConflict(eventID: seed.eventID(at: 0), index: 0)) {
            try await client.send([changed], environment: "default", idSeed: seed)
        }
        #expect(try await client.send([original], environment: "default", idSeed: seed) == [seed.eventID(at: 0)])
        #expect(try await allEvents(client.store).count == 1)
    }

    @Test("a seeded retry is compared byte for byte: a canonically equivalent spelling is another event", arguments: [
        Event(name: "cafe\u{301}", data: ["k": "é"]), Event(name: "café", data: ["k": "e\u{301}"]),
    ])
    func seededRetryComparesBytes(changed: Event) async throws {
        let client = try makeClient()
        let seed = EventIDSeed.random(milliseconds: 1_800_000_000_000)
        _ = try await client.send([Event(name: "café", data: ["k": "é"])], environment: "default", idSeed: seed)
        await #expect(throws: EventIDSeedConflict.self) {
            try await client.send([changed], environment: "default", idSeed: seed)
        }
        #expect(try await allEvents(client.store).count == 1)
    }

    @Test("a seeded retry without ts matches its first try, received at another time")
    func seededRetryWithoutTimestamp() async throws {
        let clock = ManualClock()
        let client = try makeClient(clock: clock)
        let seed = EventIDSeed.random(milliseconds: clock.now())
        let batch = [Event(name: "a", data: ["n": 1], user: ["id": "u1"], v: "1")]
        let first = try await client.send(batch, environment: "default", idSeed: seed)
        clock.advance(by: .seconds(5))
        #expect(try await client.send(batch, environment: "default", idSeed: seed) == first)
        #expect(try await allEvents(client.store).count == 1)
    }

    @Test("a longer batch under a used seed is refused whole, storing none of its new events")
    func longerBatchUnderUsedSeed() async throws {
        let client = try makeClient()
        let seed = EventIDSeed.random(milliseconds: 1_800_000_000_000)
        let first = [Event(name: "a", data: ["n": 1]), Event(name: "a", data: ["n": 2])]
        _ = try await client.send(first, environment: "default", idSeed: seed)
        await #expect(throws: EventIDSeedConflict(eventID: seed.eventID(at: 2), index: 2, isBeyondFirstTry: true)) {
            try await client.send(first + [Event(name: "a", data: ["n": 3])], environment: "default", idSeed: seed)
        }
        #expect(try await allEvents(client.store).map { $0.data["n"] } == [1, 2])
        #expect(try await client.event(id: seed.eventID(at: 2)) == nil)
        // The same holds when the new event comes first and the stored ones follow.
        let seed2 = EventIDSeed.random(milliseconds: 1_800_000_000_000)
        _ = try await client.send([Event(name: "b")], environment: "default", idSeed: seed2)
        let shifted = EventIDSeed(milliseconds: seed2.milliseconds, entropyHigh: seed2.entropyHigh, entropyLow: seed2.entropyLow &- 1)
        await #expect(throws: EventIDSeedConflict.self) {
            try await client.send([Event(name: "new"), Event(name: "b")], environment: "default", idSeed: shifted)
        }
        #expect(try await allEvents(client.store).count == 3)
    }

    @Test("a seeded retry whose first try dropped an event as a duplicate drops it again")
    func seededRetryWithDuplicate() async throws {
        let client = try makeClient()
        let original = try await client.send(Event(name: "a", id: "once"))
        let seed = EventIDSeed.random(milliseconds: 1_800_000_000_000)
        let batch = [Event(name: "a", id: "once"), Event(name: "b")]
        let first = try await client.send(batch, environment: "default", idSeed: seed)
        #expect(first == [original, seed.eventID(at: 1)])
        #expect(try await client.send(batch, environment: "default", idSeed: seed) == first)
        #expect(try await allEvents(client.store).count == 2)
    }

    @Test("events sent to another environment stay there, and bring it into being")
    func environments() async throws {
        let client = try makeClient()
        #expect(try await client.store.environmentExists("feature/x") == false)
        let id = try await client.send([Event(name: "a")], environment: "feature/x")[0]
        #expect(try await client.store.environmentExists("feature/x"))
        #expect(try await client.event(id: id) == nil, "not visible from the default environment")
        #expect(try await client.store.event(id: id, environment: "feature/x")?.name == "a")

        let other = try makeClient(store: client.store, environment: "staging")
        #expect(try await client.store.environmentExists("staging") == false)
        try other.createFunction(id: "f", trigger: .event("a")) { _, _ in }
        try await other.registerFunctions()
        #expect(try await client.store.environmentExists("staging"), "registering functions brings it into being")
    }

    @Test("a rerun is a new run of the same function on the same event, which runs every step again")
    func rerun() async throws {
        let harness = try Harness()
        let counter = Counter()
        try harness.client.createFunction(id: "charge", trigger: .event("order/placed")) { event, step in
            try await step.perform("charge") { counter.hit("charge") }
            return "charged"
        }
        let eventID = try await harness.client.send(Event(name: "order/placed"))
        try await harness.runUntilIdle()
        let first = try #require(try await harness.client.runs(function: "charge").first)
        #expect(first.status == .completed)

        let rerun = try #require(try await harness.client.rerun(first.id))
        #expect(rerun.rerunOf == first.id)
        #expect(rerun.eventID == eventID)
        #expect(rerun.status == .queued)
        try await harness.runUntilIdle()
        #expect(counter["charge"] == 2)
        let runs = try await harness.client.runs(event: eventID)
        #expect(runs.count == 2)
        #expect(runs.allSatisfy { $0.status == .completed })
        #expect(try await harness.client.rerun(RunID("01ARZ3NDEKTSV4RRFFQ69G5FAV")!) == nil)

        // A function no app registers any more cannot be rerun.
        let replaced = StepwiseClient(id: "test-app", store: harness.client.store, configuration: .init(clock: harness.clock))
        try replaced.createFunction(id: "other", trigger: .event("x")) { _, _ in }
        try await replaced.registerFunctions()
        await #expect(throws: RerunError.self) { try await replaced.rerun(first.id) }
    }

    @Test("migrating a version 3 database keeps its runs, and lets them be rerun")
    func migrationFromVersion3() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("v3.db")
        do {
            let connection = try SQLiteConnection(path: path, readOnly: false)
            try connection.execute("BEGIN")
            for script in SQLiteMigrations.all.prefix(3) { try connection.execute(script) }
            try connection.execute("PRAGMA user_version = 3")
            try connection.execute(
                """
                INSERT INTO events (id, environment, name, data, ts, received_at)
                VALUES ('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'default', 'order/placed', '{}', 1800000000000, 1800000000000);
                INSERT INTO runs (id, environment, app_id, function_id, event_id, status, created_at, output)
                VALUES ('01ARZ3NDEKTSV4RRFFQ69G5FAW', 'default', 'test-app', 'f', '01ARZ3NDEKTSV4RRFFQ69G5FAV', 'completed',
                        1800000000000, '"done"');
                """)
            try connection.execute("COMMIT")
        }
        let store = try SQLiteStore(.init(path: path))
        let run = try #require(try await store.run(id: RunID("01ARZ3NDEKTSV4RRFFQ69G5FAW")!, environment: "default"))
        #expect(run.status == .completed)
        #expect(run.output == "done")
        #expect(run.rerunOf == nil)
    }
}
