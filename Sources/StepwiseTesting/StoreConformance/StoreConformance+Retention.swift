@_spi(StoreImplementation) import Stepwise

extension StoreConformance {
    /// The rules of ``StoreRetention``, for stores that conform to it; a case run against a
    /// store that does not fails saying so.
    public static var retentionCases: [Case] {
        [
            Case("a prune deletes ended runs past the cutoff with their steps, and events no run names; runs not ended keep their events") { context in
                let store = try retaining(context)
                try await context.register([(id: "f", triggers: ["a"])])
                let client = context.client()
                let done = try await client.send(Event(name: "a"))
                let open = try await client.send(Event(name: "a"))
                let orphan = try await client.send(Event(name: "z"))
                let claimed = try await context.claim(["f"], owner: "w")
                let doneRun = try unwrap(claimed.first { $0.run.eventID == done }, "the first run is claimed")
                let openRun = try unwrap(claimed.first { $0.run.eventID == open }, "the second run is claimed")
                _ = try await store.commit(RunCheckpoint(
                    lease: doneRun.lease, now: context.clock.now(), steps: [StepWrite(context.step("s", of: doneRun.run.id, output: 1))],
                    events: nil, transition: .complete(output: 1)))
                _ = try await store.commit(RunCheckpoint(
                    lease: openRun.lease, now: context.clock.now(), steps: [StepWrite(context.step("s", of: openRun.run.id, output: 2))],
                    events: nil, transition: .sleep(until: context.clock.now() + 30 * 86_400_000)))
                context.clock.advance(by: .seconds(10 * 86_400))
                let recent = try await client.send(Event(name: "a"))
                let recentRun = try unwrap(try await context.claim(["f"], owner: "w").first, "the recent run is claimed")
                _ = try await store.commit(RunCheckpoint(
                    lease: recentRun.lease, now: context.clock.now(), steps: [], events: nil, transition: .complete(output: 3)))

                let cutoff = context.clock.now() - 86_400_000
                let result = try await store.prune(PruneRequest(environment: "default", before: cutoff, dedupeBefore: cutoff, limit: 100))
                try require(result.runs == 1 && result.steps == 1 && result.events == 2, "one run, its step, two events: \(result)")
                try require(try await store.run(id: doneRun.run.id, environment: "default") == nil, "the ended run is gone")
                try require(try await store.steps(runID: doneRun.run.id).isEmpty, "with its steps")
                try require(try await store.event(id: done, environment: "default") == nil, "its event is gone")
                try require(try await store.event(id: orphan, environment: "default") == nil, "an old event of no run is gone")
                try require(try await store.run(id: openRun.run.id, environment: "default")?.status == .sleeping, "a run not ended stays")
                try require(try await store.steps(runID: openRun.run.id).count == 1, "with its steps")
                try require(try await store.event(id: open, environment: "default") != nil, "and its event, however old")
                try require(try await store.event(id: recent, environment: "default") != nil, "a recent event stays")
                try require(try await store.run(id: recentRun.run.id, environment: "default") != nil, "a recently ended run stays")
                let again = try await store.prune(PruneRequest(environment: "default", before: cutoff, dedupeBefore: cutoff, limit: 100))
                try require(again == PruneResult(), "a second prune finds nothing: \(again)")
                let sizes = try await store.sizes(environment: "default")
                try require(sizes.events == 2 && sizes.runs == 2 && sizes.steps == 1, "sizes count what is left: \(sizes)")
            },
            Case("a prune deletes at most its limit of each kind, in one environment only") { context in
                let store = try retaining(context)
                for _ in 0..<5 { try await context.client().send(Event(name: "z")) }
                try await context.client(environment: "other").send(Event(name: "z"))
                context.clock.advance(by: .seconds(60))
                let request = PruneRequest(environment: "default", before: context.clock.now(), dedupeBefore: 0, limit: 2)
                var counts: [Int] = []
                for _ in 0..<4 { counts.append(try await store.prune(request).events) }
                try require(counts == [2, 2, 1, 0], "batches of at most the limit: \(counts)")
                try require(try await context.allEvents(environment: "other").count == 1, "another environment is untouched")
            },
            Case("dedupe keys go once accepted before the cutoff given; a younger key still drops its duplicate") { context in
                let store = try retaining(context)
                try await context.client().send(Event(name: "z", id: "old-key"))
                context.clock.advance(by: .seconds(2 * 86_400))
                let young = try await context.client().send(Event(name: "z", id: "young-key"))
                let dedupeBefore = context.clock.now() - 86_400_000
                let result = try await store.prune(PruneRequest(environment: "default", before: 0, dedupeBefore: dedupeBefore, limit: 100))
                try require(result.dedupeKeys == 1 && result.events == 0, "the old key alone: \(result)")
                try require(try await context.client().send(Event(name: "z", id: "young-key")) == young, "the young key still dedupes")
                try require(try await store.sizes(environment: "default").dedupeKeys == 1, "one key is left")
            },
            Case("a throttle key whose next start fell before the cutoff goes; one still spacing starts stays") { context in
                let store = try retaining(context)
                try await context.registerFlow("f", settings: FunctionSettings(throttle: Throttle(limit: 1, period: .seconds(60), key: "event.data.k")))
                try await context.client().send(Event(name: "a", data: ["k": "old"]))
                context.clock.advance(by: .seconds(2 * 86_400))
                try await context.client().send([Event(name: "a", data: ["k": "new"]), Event(name: "a", data: ["k": "new"])])
                let cutoff = context.clock.now() - 86_400_000
                let result = try await store.prune(PruneRequest(environment: "default", before: cutoff, dedupeBefore: 0, limit: 100))
                try require(result.throttleKeys == 1, "the old key's state alone: \(result)")
                try await context.client().send(Event(name: "a", data: ["k": "new"]))
                let newRuns = try await context.allRuns().filter { $0.flow.throttle?.value == "new" }.compactMap(\.availableAt).sorted()
                try require(newRuns == [context.clock.now(), context.clock.now() + 60_000, context.clock.now() + 120_000],
                            "the new key still spaces its starts: \(newRuns)")
                try await context.client().send(Event(name: "a", data: ["k": "old"]))
                let old = try await context.allRuns().filter { $0.flow.throttle?.value == "old" }.compactMap(\.availableAt).max()
                try require(old == context.clock.now(), "the old key starts at once, as a key never seen: \(String(describing: old))")
            },
            Case("a prune racing appends, claims and checkpoints never deletes a run not ended or an event a run names") { context in
                let store = try retaining(context)
                try await context.register([(id: "f", triggers: ["a"])])
                let client = context.client()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for sender in 0..<4 {
                        group.addTask {
                            for round in 0..<15 {
                                try await client.send([Event(name: "a", data: ["s": .int(Int64(sender)), "r": .int(Int64(round))]), Event(name: "z")])
                                for claimed in try await context.claim(["f"], owner: "w\(sender)", limit: 2) {
                                    _ = try await store.commit(RunCheckpoint(
                                        lease: claimed.lease, now: context.clock.now(), steps: [], events: nil,
                                        transition: round % 2 == 0 ? .complete(output: .null) : .sleep(until: context.clock.now() + 86_400_000)))
                                }
                            }
                        }
                    }
                    group.addTask {
                        for _ in 0..<40 {
                            // Everything ended counts as past retention here: the race is the point.
                            _ = try await store.prune(PruneRequest(
                                environment: "default", before: .max, dedupeBefore: .max, limit: 7))
                        }
                    }
                    try await group.waitForAll()
                }
                let runs = try await context.allRuns()
                for run in runs {
                    try require(try await store.event(id: run.eventID, environment: "default") != nil, "run \(run.id) (\(run.status)) lost its event")
                }
                try require(runs.count { !$0.status.isFinal } > 0, "runs not ended are kept")
            },
        ]
    }

    /// The case's store as a ``StoreRetention``, or a failure saying it is none.
    private static func retaining(_ context: ConformanceContext) throws(StoreConformanceFailure) -> any StoreRetention {
        try unwrap(context.store as? any StoreRetention, "\(type(of: context.store)) does not conform to StoreRetention")
    }
}
