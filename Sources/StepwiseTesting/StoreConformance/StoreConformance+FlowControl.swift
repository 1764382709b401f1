@_spi(StoreImplementation) import Stepwise

extension StoreConformance {
    /// Flow control as a store keeps it: concurrency keys counted at claims and given back
    /// as runs leave `running`, rate limits counted and throttle starts reserved as runs are
    /// inserted, and the records of events that started no run.
    static var flowControlCases: [Case] {
        [
            Case("a run whose concurrency key is full is parked, and let go when a run holding the key leaves running") { context in
                try await context.registerFlow("f", settings: FunctionSettings(concurrency: [.init(limit: 1, key: "event.data.k")]))
                let client = context.client()
                try await client.send([Event(name: "a", data: ["k": "c1"]), Event(name: "a", data: ["k": "c1"]), Event(name: "a", data: ["k": "c2"])])
                let first = try await context.claim(["f"], owner: "w")
                try require(first.map { $0.event.data["k"] } == ["c1", "c2"], "one run per key is claimed: \(first.map { $0.event.data })")
                let parked = try await context.allRuns().filter { $0.status == .queued }
                try require(parked.count == 1 && parked[0].parkedOn != nil && parked[0].availableAt == nil,
                            "the second c1 run is parked, and not due: \(parked.map { ($0.parkedOn, $0.availableAt) })")
                let due = try await context.store.nextDueTime(environment: "default", appID: "conformance-app", functionIDs: ["f"])
                try require(due == context.clock.now() + 1000, "a parked run makes nothing due before the leases run out: \(String(describing: due))")
                try require(try await context.claim(["f"], owner: "w").isEmpty, "nothing is claimed while the key is full")
                let holders = try await context.store.runs(holdingConcurrencyKey: try unwrap(parked[0].parkedOn, "the key"), limit: 10)
                try require(holders.map(\.id) == [first[0].run.id], "the key's holder is listed: \(holders.map(\.id))")
                _ = try await context.store.commit(RunCheckpoint(
                    lease: first[0].lease, now: context.clock.now(), step: nil, events: nil, transition: .complete(output: nil)))
                let next = try await context.claim(["f"], owner: "w")
                try require(next.count == 1 && next[0].run.id == parked[0].id, "the parked run is claimed once the key has room")
                try require(next[0].run.parkedOn == nil, "and is no longer parked")
            },
            Case("a sleeping or waiting run gives its slot back, and a cancelled one too") { context in
                try await context.registerFlow("f", settings: FunctionSettings(concurrency: [.init(limit: 1)]))
                try await context.client().send([Event(name: "a"), Event(name: "a"), Event(name: "a")])
                let first = try unwrap(try await context.claim(["f"], owner: "w", lease: 600_000).first, "a first run")
                _ = try await context.store.commit(RunCheckpoint(
                    lease: first.lease, now: context.clock.now(), step: nil, events: nil, transition: .sleep(until: context.clock.now() + 60_000)))
                let second = try unwrap(try await context.claim(["f"], owner: "w", lease: 600_000).first, "the slot the sleeper gave back")
                try require(second.run.id != first.run.id, "another run takes it")
                let cancelled = try await context.store.cancel(
                    runID: second.run.id, environment: "default", now: context.clock.now(), reason: .runCancelled(reason: "api"), events: nil)
                try require(cancelled, "the running run is cancelled")
                let third = try await context.claim(["f"], owner: "w", lease: 600_000)
                try require(third.count == 1 && third[0].run.id != first.run.id && third[0].run.id != second.run.id,
                            "the cancelled run's slot goes to the third: \(third.count)")
                context.clock.advance(by: .seconds(60))
                try require(try await context.claim(["f"], owner: "w", lease: 600_000).isEmpty, "the woken sleeper waits for a slot again")
                try require(try await context.run(first.run.id)?.parkedOn != nil, "parked, not lost")
            },
            Case("a parked run that is cancelled stays ended when its key frees a slot") { context in
                try await context.registerFlow("f", settings: FunctionSettings(concurrency: [.init(limit: 1)]))
                try await context.client().send([Event(name: "a"), Event(name: "a"), Event(name: "a")])
                let holder = try unwrap(try await context.claim(["f"], owner: "w", lease: 600_000).first, "the holder")
                let parked = try await context.allRuns().filter { $0.parkedOn != nil }.sorted { $0.id < $1.id }
                try require(parked.count == 2, "two parked: \(parked.count)")
                let cancelled = try await context.store.cancel(
                    runID: parked[0].id, environment: "default", now: context.clock.now(), reason: .runCancelled(reason: "api"), events: nil)
                try require(cancelled, "the parked run is cancelled")
                _ = try await context.store.commit(RunCheckpoint(
                    lease: holder.lease, now: context.clock.now(), step: nil, events: nil, transition: .complete(output: nil)))
                let after = try unwrap(try await context.run(parked[0].id), "the cancelled run")
                try require(after.status == .cancelled && after.availableAt == nil, "still cancelled, never due: \(after.status)")
                let next = try await context.claim(["f"], owner: "w", lease: 600_000)
                try require(next.map(\.run.id) == [parked[1].id], "the slot goes to the other parked run")
                try require(next.first?.run.parkedOn == nil, "a claimed run is not parked")
            },
            Case("concurrent claimers never start more runs of a key than its limit") { context in
                try await context.registerFlow("f", settings: FunctionSettings(concurrency: [.init(limit: 3, key: "event.data.k")]))
                try await context.client().send((0..<40).map { Event(name: "a", data: ["k": .string($0 % 2 == 0 ? "even" : "odd")]) })
                let claimed = try await withThrowingTaskGroup(of: [ClaimedRun].self) { group in
                    for worker in 0..<8 {
                        group.addTask { try await context.claim(["f"], owner: "w\(worker)", lease: 60_000, limit: 5) }
                    }
                    return try await group.reduce(into: [ClaimedRun]()) { $0 += $1 }
                }
                let byKey = Dictionary(grouping: claimed, by: { $0.event.data["k"]?.stringValue ?? "" }).mapValues(\.count)
                try require(byKey["even"] ?? 0 <= 3 && byKey["odd"] ?? 0 <= 3, "at most 3 per key: \(byKey)")
                let running = try await context.allRuns().filter { $0.status == .running }.count
                try require(running == claimed.count && running <= 6, "what is running is what was claimed: \(running)")
            },
            Case("a key's runs beyond its turn wait parked in order, and keys take turns when claims, not limits, bind") { context in
                try await context.registerFlow("f", settings: FunctionSettings(concurrency: [.init(limit: 100, key: "event.data.k")]))
                let client = context.client()
                try await client.send((0..<30).map { Event(name: "a", data: ["k": "hot", "n": .int(Int64($0))]) })
                context.clock.advance(by: .milliseconds(1))
                try await client.send((0..<3).map { Event(name: "a", data: ["k": "small", "n": .int(Int64($0))]) })
                context.clock.advance(by: .milliseconds(1))
                let hot = try await context.allRuns().filter { $0.flow.concurrency.first?.value == "hot" }
                try require(hot.filter { $0.availableAt != nil }.count == RunFlow.Concurrency.maximumTurn,
                            "the hot key's turn is due: \(hot.filter { $0.availableAt != nil }.count)")
                try require(hot.filter { $0.parkedOn != nil }.count == 30 - RunFlow.Concurrency.maximumTurn, "the rest wait in line")
                let first = try await context.claim(["f"], owner: "w", lease: 600_000, limit: 12)
                try require(first.map { $0.event.data["k"]?.stringValue ?? "" } == Array(repeating: "hot", count: 10) + ["small", "small"],
                            "the oldest first: \(first.map { $0.event.data["k"] })")
                let next = try await context.claim(["f"], owner: "w", lease: 600_000, limit: 1)
                try require(next.map { $0.event.data } == [["k": "small", "n": 2]],
                            "the hot key's next runs queue behind the small key's: \(next.map { $0.event.data })")
                var order = first.filter { $0.event.data["k"] == "hot" }.map { $0.event.data["n"]?.intValue ?? -1 }
                while true {
                    let claimed = try await context.claim(["f"], owner: "w", lease: 600_000, limit: 7)
                    if claimed.isEmpty { break }
                    order += claimed.map { $0.event.data["n"]?.intValue ?? -1 }
                }
                try require(order == Array(0..<30), "every hot run is claimed, in the order sent: \(order)")
            },
            Case("a key alone takes every claim it has room for, its turn let go within the claim") { context in
                try await context.registerFlow("f", settings: FunctionSettings(concurrency: [.init(limit: 50, key: "event.data.k")]))
                try await context.client().send((0..<60).map { Event(name: "a", data: ["k": "only", "n": .int(Int64($0))]) })
                let claimed = try await context.claim(["f"], owner: "w", lease: 600_000, limit: 45)
                try require(claimed.map { $0.event.data["n"]?.intValue ?? -1 } == Array(0..<45), "45 in order: \(claimed.count)")
                let more = try await context.claim(["f"], owner: "w", lease: 600_000, limit: 45)
                try require(more.count == 5, "then up to the key's limit of 50: \(more.count)")
            },
            Case("a queued run cancelled gives its turn to the next in line") { context in
                try await context.registerFlow("f", settings: FunctionSettings(concurrency: [.init(limit: 100, key: "event.data.k")]))
                try await context.client().send((0..<12).map { Event(name: "a", data: ["k": "x", "n": .int(Int64($0))]) })
                let due = try await context.allRuns().filter { $0.availableAt != nil }
                try require(due.count == 10, "the key's turn is due: \(due.count)")
                for run in due {
                    _ = try await context.store.cancel(
                        runID: run.id, environment: "default", now: context.clock.now(), reason: .runCancelled(reason: "api"), events: nil)
                }
                let claimed = try await context.claim(["f"], owner: "w", lease: 600_000)
                try require(claimed.map { $0.event.data["n"]?.intValue ?? -1 } == [10, 11], "the two in line: \(claimed.map { $0.event.data })")
            },
            Case("a run let go after a sleeper gave its slot back is due no earlier than the release") { context in
                try await context.registerFlow("f", settings: FunctionSettings(concurrency: [.init(limit: 1)]))
                try await context.client().send([Event(name: "a"), Event(name: "a")])
                let first = try unwrap(try await context.claim(["f"], owner: "w", lease: 600_000).first, "the holder")
                context.clock.advance(by: .seconds(5))
                _ = try await context.store.commit(RunCheckpoint(
                    lease: first.lease, now: context.clock.now(), step: nil, events: nil, transition: .sleep(until: context.clock.now() + 60_000)))
                let second = try unwrap(try await context.allRuns().first { $0.id != first.run.id }, "the second run")
                try require(second.parkedOn == nil && second.availableAt == context.clock.now(),
                            "due at the release, behind what was due before it: \(String(describing: second.availableAt)), now \(context.clock.now())")
            },
            Case("parked runs are let go by priority, then by due time") { context in
                try await context.registerFlow("f", settings: FunctionSettings(
                    concurrency: [.init(limit: 1)], priority: Priority(run: "has(event.data.p) ? event.data.p : 0")))
                let client = context.client()
                try await client.send(Event(name: "a", data: ["name": "blocker"]))
                var holder = try unwrap(try await context.claim(["f"], owner: "w", lease: 600_000).first, "the blocker")
                let start = context.clock.now()
                for (name, priority, at) in [("A", 0, 0), ("B", 0, 100_000), ("C", 150, 200_000)] {
                    context.clock.advance(by: .milliseconds(start + Int64(at) - context.clock.now()))
                    try await client.send(Event(name: "a", data: ["name": .string(name), "p": .int(Int64(priority))]))
                    _ = try await context.claim(["f"], owner: "w", lease: 600_000)
                }
                var order: [String] = []
                for _ in 0..<3 {
                    _ = try await context.store.commit(RunCheckpoint(
                        lease: holder.lease, now: context.clock.now(), step: nil, events: nil, transition: .complete(output: nil)))
                    holder = try unwrap(try await context.claim(["f"], owner: "w", lease: 600_000).first, "the next run")
                    order.append(holder.event.data["name"]?.stringValue ?? "")
                }
                try require(order == ["A", "C", "B"], "C's 150 s put it ahead of B, not of A: \(order)")
            },
            Case("an event over the rate limit starts no run, is stored, and its admission record says why") { context in
                try await context.registerFlow("f", settings: FunctionSettings(rateLimit: RateLimit(limit: 2, period: .seconds(10))))
                let client = context.client()
                let ids = try await client.send([Event(name: "a"), Event(name: "a"), Event(name: "a")])
                try require(try await context.allRuns().count == 2, "two runs")
                let third = try unwrap(try await context.store.event(id: ids[2], environment: "default"), "the third event is stored")
                let records = try await context.store.admissions(eventID: third.id, environment: "default")
                try require(records.map(\.reason) == [.rateLimited] && records.first?.functionID == "f", "recorded as rate limited: \(records)")
                try require(try await context.store.admissions(eventID: ids[0], environment: "default").isEmpty, "an admitted event has none")
                context.clock.advance(by: .milliseconds(9_999))
                try await client.send(Event(name: "a"))
                try require(try await context.allRuns().count == 2, "still within the window")
                context.clock.advance(by: .milliseconds(1))
                try await client.send(Event(name: "a"))
                try require(try await context.allRuns().count == 3, "the window slid on: admitted")
            },
            Case("concurrent appends never admit more events than the rate limit") { context in
                try await context.registerFlow("f", settings: FunctionSettings(rateLimit: RateLimit(limit: 3, period: .seconds(60), key: "event.data.k")))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for sender in 0..<8 {
                        group.addTask {
                            for n in 0..<4 {
                                try await context.client().send(Event(name: "a", data: ["k": "same", "n": .int(Int64(sender * 10 + n))]))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let runs = try await context.allRuns()
                try require(runs.count == 3, "exactly the limit: \(runs.count) runs of 32 events")
            },
            Case("a throttled run is due at the start reserved for it; runs of another key are not held back") { context in
                try await context.registerFlow("f", settings: FunctionSettings(
                    throttle: Throttle(limit: 2, period: .seconds(1), key: "event.data.k")))
                let start = context.clock.now()
                try await context.client().send((0..<5).map { _ in Event(name: "a", data: ["k": "x"]) } + [Event(name: "a", data: ["k": "y"])])
                let runs = try await context.allRuns().sorted { $0.id < $1.id }
                try require(runs.compactMap(\.availableAt).map { $0 - start } == [0, 0, 500, 1000, 1500, 0],
                            "starts spaced by the throttle: \(runs.compactMap(\.availableAt).map { $0 - start })")
                try require(try await context.claim(["f"], owner: "w").count == 3, "the two of x's burst and y's start now")
            },
            Case("an event for which the trigger's if does not hold, or fails, starts no run and is recorded") { context in
                try await context.store.register(FunctionRegistration(
                    environment: "default", appID: "conformance-app",
                    functions: [FunctionRegistration.Function(
                        id: "f", triggers: [TriggerRegistration(pattern: EventPattern("a"), condition: "event.data.amount > 100")])],
                    isCompleteSet: false, now: context.clock.now()))
                let ids = try await context.client().send([
                    Event(name: "a", data: ["amount": 50]), Event(name: "a", data: ["amount": 150]), Event(name: "a", data: ["amount": "lots"]),
                ])
                try require(try await context.allRuns().count == 1, "one run, for 150")
                let filtered = try await context.store.admissions(eventID: ids[0], environment: "default")
                try require(filtered.map(\.reason) == [.filtered], "50 is filtered: \(filtered)")
                let failed = try await context.store.admissions(eventID: ids[2], environment: "default")
                try require(failed.map(\.reason) == [.filtered] || failed.map(\.reason) == [.evaluationFailed], "a string is recorded: \(failed)")
            },
            Case("concurrent appends fill each batch to its size, every event in exactly one batch") { context in
                try await context.registerFlow("f", settings: FunctionSettings(batchEvents: BatchEvents(maxSize: 5, timeout: .seconds(60))))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for sender in 0..<6 {
                        group.addTask {
                            for n in 0..<5 {
                                try await context.client().send(Event(name: "a", data: ["n": .int(Int64(sender * 10 + n))]))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let runs = try await context.allRuns()
                try require(runs.count == 6 && runs.allSatisfy { $0.eventCount == 5 }, "six full batches: \(runs.map(\.eventCount))")
                try require(runs.allSatisfy { $0.availableAt == context.clock.now() }, "a full batch is due at once")
                let claimed = try await context.claim(["f"], owner: "w")
                let events = claimed.flatMap { $0.events.map(\.id) }
                try require(Set(events).count == 30 && events.count == 30, "each event once: \(events.count)")
            },
            Case("concurrent events for one debounce key leave one pending run, holding the latest") { context in
                try await context.registerFlow("f", settings: FunctionSettings(debounce: Debounce(period: .seconds(5), key: "event.data.k")))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for sender in 0..<6 {
                        group.addTask {
                            for n in 0..<3 { try await context.client().send(Event(name: "a", data: ["k": "x", "n": .int(Int64(sender * 10 + n))])) }
                        }
                    }
                    try await group.waitForAll()
                }
                let runs = try await context.allRuns()
                try require(runs.count == 1 && runs[0].status == .queued, "one pending run: \(runs.count)")
                try require(runs[0].availableAt == context.clock.now() + 5000, "due one period after the last event")
                let latest = try await context.store.events(EventQuery(environment: "default", name: "a", limit: 1)).events.first
                try require(runs[0].eventID == latest?.id, "holding the latest event")
                try require(try await context.claim(["f"], owner: "w").isEmpty, "not due before its time")
            },
            Case("concurrent events for one singleton key start one run; the others are skipped and say which run they met") { context in
                try await context.registerFlow("f", settings: FunctionSettings(singleton: Singleton(key: "event.data.k", mode: .skip)))
                let ids = try await withThrowingTaskGroup(of: EventID.self) { group in
                    for _ in 0..<8 { group.addTask { try await context.client().send(Event(name: "a", data: ["k": "x"])) } }
                    return try await group.reduce(into: [EventID]()) { $0.append($1) }
                }
                let runs = try await context.allRuns()
                try require(runs.count == 1, "one run: \(runs.count)")
                for id in ids where id != runs[0].eventID {
                    let records = try await context.store.admissions(eventID: id, environment: "default")
                    try require(records.map(\.reason) == [.singletonSkipped] && records.first?.runID == runs[0].id, "skipped, naming the run: \(records)")
                }
            },
        ]
    }
}

extension ConformanceContext {
    /// Registers one function of the case's app, triggered by `a`, with `settings`.
    func registerFlow(_ id: String, settings: FunctionSettings) async throws {
        try await store.register(FunctionRegistration(
            environment: "default", appID: "conformance-app",
            functions: [FunctionRegistration.Function(id: id, triggers: [TriggerRegistration(pattern: EventPattern("a"))], settings: settings)],
            isCompleteSet: false, now: clock.now()))
    }

    /// The run with this id.
    func run(_ id: RunID) async throws -> RunRecord? {
        try await store.run(id: id, environment: "default")
    }
}
