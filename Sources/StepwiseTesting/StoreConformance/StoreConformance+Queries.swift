import Stepwise

extension StoreConformance {
    /// Listings and paging.
    static var queryCases: [Case] {
        [
            Case("events list newest first by name and receive time, a page at a time, every event once") { context in
                let client = context.client()
                var sent: [EventID] = []
                for n in 0..<25 {
                    sent.append(try await client.send(Event(name: n.isMultiple(of: 2) ? "even" : "odd", data: ["n": .int(Int64(n))])))
                    context.clock.advance(by: .milliseconds(n.isMultiple(of: 5) ? 0 : 10))  // some share a millisecond
                }
                var seen: [StoredEvent] = []
                var cursor: EventCursor?
                repeat {
                    let page = try await context.store.events(EventQuery(limit: 4, cursor: cursor))
                    try require(page.events.count <= 4, "a page holds at most its limit")
                    seen += page.events
                    cursor = page.nextCursor
                } while cursor != nil
                try require(seen.map(\.id) == sent.reversed(), "newest first, each once: \(seen.count) of \(sent.count)")
                let even = try await context.store.events(EventQuery(name: "even", limit: 100))
                try require(even.events.count == 13 && even.events.allSatisfy { $0.name == "even" }, "by name")
                let middle = seen[12].receivedAt
                let window = try await context.store.events(EventQuery(since: middle, until: middle + 20, limit: 100))
                try require(window.events.allSatisfy { $0.receivedAt >= middle && $0.receivedAt < middle + 20 } && !window.events.isEmpty,
                            "since inclusive, until exclusive")
            },
            Case("runs list newest first, by function, status and event, a page at a time") { context in
                try await context.register([(id: "f", triggers: ["a"]), (id: "g", triggers: ["a"])])
                let client = context.client()
                var events: [EventID] = []
                for _ in 0..<7 { events.append(try await client.send(Event(name: "a"))) }
                var seen: [RunRecord] = []
                var before: RunID?
                while true {
                    let page = try await context.store.runs(RunQuery(functionID: "f", limit: 3, before: before))
                    seen += page
                    guard page.count == 3, let last = page.last else { break }
                    before = last.id
                }
                try require(seen.count == 7 && Set(seen.map(\.id)).count == 7, "every run of f once: \(seen.count)")
                try require(seen.map(\.id) == seen.map(\.id).sorted(by: >), "newest first")
                try require(seen.allSatisfy { $0.functionID == "f" }, "only f's")
                try require(try await context.store.runs(RunQuery(eventID: events[3])).count == 2, "by event")
                _ = try await context.claim(["g"], owner: "w1", limit: 2)
                try require(try await context.store.runs(RunQuery(status: .running)).count == 2, "by status")
                try require(try await context.store.run(id: seen[0].id, environment: "default")?.id == seen[0].id, "one run by id")
                try require(try await context.store.run(id: seen[0].id, environment: "other") == nil, "only in its environment")
            },
            Case("an environment exists once something of it is stored") { context in
                try require(try await !context.store.environmentExists("branch"), "not before")
                try await context.client(environment: "branch").send(Event(name: "a"))
                try require(try await context.store.environmentExists("branch"), "after an event")
                try await context.register([(id: "f", triggers: ["a"])], environment: "functions-only")
                try require(try await context.store.environmentExists("functions-only"), "after a registration")
            },
            Case("environments lists every environment in use once, sorted by the bytes of their names") { context in
                try require(try await context.store.environments().isEmpty, "none before anything is stored")
                for _ in 0..<3 { try await context.client(environment: "branch-b").send(Event(name: "a")) }
                try await context.client(environment: "Branch-A").send(Event(name: "a"))
                try await context.register([(id: "f", triggers: ["a"])], environment: "functions-only")
                try await context.register([(id: "f", triggers: ["a"])], environment: "branch-b")
                let listed = try await context.store.environments()
                try require(listed == ["Branch-A", "branch-b", "functions-only"], "each once, by bytes (capitals first): \(listed)")
            },
        ]
    }
}
