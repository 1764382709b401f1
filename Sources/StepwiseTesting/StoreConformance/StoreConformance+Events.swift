import InMemoryTracing
import Stepwise
import Tracing

extension StoreConformance {
    /// Appends, dedupe, seeds and fan-out.
    static var eventCases: [Case] {
        [
            Case("an event's trace context is stored with it, and read back by look-ups, listings and the claim of its run") { context in
                try await context.register([(id: "f", triggers: ["traced"])])
                let tracer = InMemoryTracer()
                let traced = context.client(tracer: tracer)
                let batch = try await traced.send([Event(name: "traced"), Event(name: "traced")])
                let untraced = try await context.client().send(Event(name: "plain"))
                let sent = try unwrap(tracer.finishedSpans.first, "send made a span")
                let expected = [InMemoryTracer.traceIDKey: sent.spanContext.traceID, InMemoryTracer.spanIDKey: sent.spanContext.spanID]
                let first = try unwrap(try await context.store.event(id: batch[0], environment: "default"), "the event reads back")
                try require(first.traceContext?.fields == expected, "the sender's span is stored with the event: \(String(describing: first.traceContext))")
                let listed = try await context.allEvents()
                try require(listed.filter { $0.traceContext?.fields == expected }.count == 2, "listings carry each event's context")
                try require(listed.first { $0.id == untraced }?.traceContext == nil, "an event sent with no tracer has none")
                let claimed = try await context.claim(["f"], owner: "w1")
                try require(claimed.count == 2 && claimed.allSatisfy { $0.event.traceContext?.fields == expected },
                            "a claimed run's event carries its context: \(claimed.map { String(describing: $0.event.traceContext) })")
            },
            Case("a claim says when each run was due, before its lease moved that on") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                try await context.client().send(Event(name: "a"))
                let due = try unwrap(try await context.allRuns().first?.availableAt, "the queued run is due")
                context.clock.advance(by: .seconds(5))
                let claimed = try unwrap(try await context.claim(["f"], owner: "w1").first, "claimed")
                try require(claimed.dueAt == due, "due at \(due), the claim said \(String(describing: claimed.dueAt))")
                try require(claimed.claimedAt - due == 5000, "claimed five seconds after it was due")
            },
            Case("an appended event is durable and read back exactly, with ids that increase") { context in
                let client = context.client()
                let ids = try await client.send([
                    Event(name: "app/a", data: ["z": 1, "a": [true, nil, 2.5], "text": "héllo 👋"], user: ["id": "u1"], id: "a-1"),
                    Event(name: "app/b", data: [:]),
                ])
                try require(ids.count == 2 && ids[0] < ids[1], "ids in the order of the batch, increasing: \(ids)")
                let first = try unwrap(try await context.store.event(id: ids[0], environment: "default"), "the first event reads back")
                try require(first.name == "app/a", "the name reads back")
                try require(first.data.serialized == #"{"z":1,"a":[true,null,2.5],"text":"héllo 👋"}"#, "data reads back exactly: \(first.data)")
                try require(first.user == ["id": "u1"], "user reads back")
                try require(first.dedupeID == "a-1", "the dedupe id reads back")
                try require(first.receivedAt == context.clock.now(), "received at the batch's time")
                try require(try await context.store.event(id: ids[0], environment: "other") == nil, "events are kept per environment")
            },
            Case("a repeated dedupe id within the window is a duplicate of the first, across batches, names and within one") { context in
                let client = context.client()
                let first = try await client.send(Event(name: "app/a", data: ["n": 1], id: "k"))
                let again = try await client.send([Event(name: "app/b", data: ["n": 2], id: "k"), Event(name: "app/c"), Event(name: "app/d", id: "k")])
                try require(again[0] == first && again[2] == first && again[1] != first, "duplicates answer the first id: \(again)")
                let stored = try await context.allEvents()
                try require(stored.count == 2, "duplicates are not stored: \(stored.count) events")
                try require(stored.first { $0.id == first }?.data == ["n": 1], "the first event keeps its payload; a duplicate's is dropped")
                try require(try await context.client(environment: "branch").send(Event(name: "app/a", id: "k")) != first,
                            "dedupe ids are kept per environment")
            },
            Case("a dedupe id is free again once its window has passed, and starts a new window") { context in
                let client = context.client(dedupeWindow: .seconds(60))
                let first = try await client.send(Event(name: "app/a", id: "k"))
                context.clock.advance(by: .seconds(59))
                try require(try await client.send(Event(name: "app/a", id: "k")) == first, "still inside the window")
                context.clock.advance(by: .seconds(1))
                let second = try await client.send(Event(name: "app/a", id: "k"))
                try require(second != first, "the window runs from the first event")
                context.clock.advance(by: .seconds(30))
                try require(try await client.send(Event(name: "app/a", id: "k")) == second, "the new window runs from the second")
            },
            Case("concurrent appends of one dedupe id: exactly one is accepted, every caller gets its id") { context in
                let client = context.client()
                let ids = try await withThrowingTaskGroup(of: EventID.self) { group in
                    for n in 0..<32 {
                        group.addTask { try await client.send(Event(name: "app/race", data: ["n": .int(Int64(n))], id: "one")) }
                    }
                    return try await group.reduce(into: [EventID]()) { $0.append($1) }
                }
                try require(Set(ids).count == 1, "every caller is answered with the one accepted id: \(Set(ids).count) ids")
                try require(try await context.allEvents().count == 1, "the id is stored once")
            },
            Case("a seeded batch gets the seed's ids; a retry stores nothing; another batch under the seed is refused whole") { context in
                let client = context.client()
                let seed = EventIDSeed.random(milliseconds: context.clock.now())
                let events = [Event(name: "app/a", data: ["n": 1]), Event(name: "app/b", data: ["n": 2])]
                let ids = try await client.send(events, environment: "default", idSeed: seed)
                try require(ids == [seed.eventID(at: 0), seed.eventID(at: 1)], "ids come from the seed")
                let retried = try await client.send(events, environment: "default", idSeed: seed)
                try require(retried == ids, "a retry answers the same ids")
                try await requireThrows(EventIDSeedConflict.self, "a different batch under a used seed") {
                    _ = try await client.send([Event(name: "app/a", data: ["n": 1]), Event(name: "app/b", data: ["n": 3])],
                                              environment: "default", idSeed: seed)
                }
                let stored = try await context.allEvents().count
                try require(stored == 2, "nothing more is stored: \(stored) events")
            },
            Case("an event creates one run of every function whose trigger matches it, in its transaction") { context in
                try await context.register([
                    (id: "exact", triggers: ["shop/checkout"]), (id: "prefix", triggers: ["shop/*"]), (id: "all", triggers: ["*"]),
                    (id: "other", triggers: ["billing/paid"]), (id: "twice", triggers: ["shop/checkout", "shop/*"]),
                ])
                let id = try await context.client().send(Event(name: "shop/checkout", data: ["cart": "c1"]))
                let runs = try await context.store.runs(RunQuery(eventID: id))
                try require(Set(runs.map(\.functionID)) == ["exact", "prefix", "all", "twice"], "fan-out: \(runs.map(\.functionID))")
                try require(runs.count == 4, "one run a function, however many of its triggers match: \(runs.count)")
                try require(runs.allSatisfy { $0.status == .queued && $0.eventID == id && $0.appID == "conformance-app" }, "queued runs of the event")
                let branch = try await context.client(environment: "branch").send(Event(name: "shop/checkout"))
                try require(try await context.store.runs(RunQuery(environment: "branch", eventID: branch)).isEmpty,
                            "functions are registered per environment")
            },
            Case("a trigger's conditions select the events it matches") { context in
                try await context.store.register(FunctionRegistration(
                    environment: "default", appID: "conformance-app",
                    functions: [FunctionRegistration.Function(
                        id: "vip", triggers: [TriggerRegistration(pattern: "shop/checkout", conditions: ["data.tier": "gold"])])],
                    isCompleteSet: false, now: context.clock.now()))
                let ids = try await context.client().send([
                    Event(name: "shop/checkout", data: ["tier": "gold"]), Event(name: "shop/checkout", data: ["tier": "silver"]),
                ])
                try require(try await context.store.runs(RunQuery(eventID: ids[0])).count == 1, "the matching event starts a run")
                try require(try await context.store.runs(RunQuery(eventID: ids[1])).isEmpty, "the other starts none")
            },
            Case("a complete registration removes the app's other functions, and leaves other apps' alone") { context in
                try await context.register([(id: "old", triggers: ["a"]), (id: "kept", triggers: ["a"])])
                try await context.register([(id: "theirs", triggers: ["a"])], app: "other-app")
                try await context.store.register(FunctionRegistration(
                    environment: "default", appID: "conformance-app",
                    functions: [FunctionRegistration.Function(id: "kept", triggers: [TriggerRegistration(pattern: "a")])],
                    isCompleteSet: true, now: context.clock.now()))
                let functions = try await context.store.functions(environment: "default")
                try require(functions.map { "\($0.appID)/\($0.id)" } == ["conformance-app/kept", "other-app/theirs"],
                            "registered: \(functions.map { "\($0.appID)/\($0.id)" })")
                let id = try await context.client().send(Event(name: "a"))
                let started = Set(try await context.store.runs(RunQuery(eventID: id)).map(\.functionID))
                try require(started == ["kept", "theirs"], "a removed function gets no runs: \(started.sorted())")
            },
        ]
    }
}
