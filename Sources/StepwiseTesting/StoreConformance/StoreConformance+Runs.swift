@_spi(StoreImplementation) import Stepwise

extension StoreConformance {
    /// Claims, leases, renewals, fencing, run transitions, cancel and rerun.
    static var runCases: [Case] {
        [
            Case("a claimed run comes with its event and steps, and is not claimed again while its lease holds") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                let eventID = try await context.client().send(Event(name: "a", data: ["n": 7]))
                let claimed = try await context.claim(["f"], owner: "w1")
                try require(claimed.count == 1, "the due run is claimed: \(claimed.count)")
                let run = claimed[0]
                try require(run.event.id == eventID && run.event.data == ["n": 7], "the claim carries the run's event")
                try require(run.run.status == .running && run.lease.owner == "w1", "the run is running under w1's lease")
                try require(try await context.claim(["f"], owner: "w2").isEmpty, "a leased run is not claimed twice")
                try require(try await context.claim(["g"], owner: "w2").isEmpty, "only runs of the functions asked for")
                _ = try await context.store.commit(RunCheckpoint(
                    lease: run.lease, now: context.clock.now(), step: context.step("s", of: run.run.id, output: 1), events: nil,
                    transition: .release))
                let again = try await context.claim(["f"], owner: "w2")
                try require(again.first?.steps["s"]?.output == 1, "a later claim carries the recorded steps")
                try require((again.first?.lease.token ?? 0) > run.lease.token, "every claim raises the lease token")
            },
            Case("a run whose lease ran out is claimed by another worker, with a higher token") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                try await context.client().send(Event(name: "a"))
                let first = try unwrap(try await context.claim(["f"], owner: "w1", lease: 1000).first, "claimed")
                context.clock.advance(by: .milliseconds(999))
                try require(try await context.claim(["f"], owner: "w2").isEmpty, "not before the lease runs out")
                context.clock.advance(by: .milliseconds(1))
                let second = try unwrap(try await context.claim(["f"], owner: "w2").first, "claimed once the lease ran out")
                try require(second.run.id == first.run.id && second.lease.token > first.lease.token, "the same run, a newer lease")
            },
            Case("N concurrent claimers: each due run is claimed exactly once") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                let client = context.client()
                for chunk in 0..<4 {
                    try await client.send((0..<50).map { Event(name: "a", data: ["n": .int(Int64(chunk * 50 + $0))]) })
                }
                let claimed = try await withThrowingTaskGroup(of: [RunID].self) { group in
                    for worker in 0..<8 {
                        group.addTask {
                            var mine: [RunID] = []
                            // Bounded, so that a store that hands runs out again ends the case.
                            while mine.count <= 200 {
                                let batch = try await context.claim(["f"], owner: "w\(worker)", lease: 60_000, limit: 7)
                                if batch.isEmpty { return mine }
                                mine += batch.map(\.run.id)
                            }
                            return mine
                        }
                    }
                    return try await group.reduce(into: [RunID]()) { $0 += $1 }
                }
                try require(claimed.count == 200, "every run claimed: \(claimed.count) claims")
                try require(Set(claimed).count == 200, "no run claimed twice: \(claimed.count - Set(claimed).count) duplicates")
            },
            Case("a commit under a stale lease throws LeaseLostError and stores nothing") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                try await context.client().send(Event(name: "a"))
                let stale = try unwrap(try await context.claim(["f"], owner: "w1", lease: 1000).first, "claimed")
                context.clock.advance(by: .seconds(2))
                let current = try unwrap(try await context.claim(["f"], owner: "w2").first, "taken over")
                for transition in [RunCheckpoint.Transition.none, .complete(output: "stale"), .release, .sleep(until: context.clock.now() + 10)] {
                    try await requireThrows(LeaseLostError.self, "a stale \(transition) commit") {
                        _ = try await context.store.commit(RunCheckpoint(
                            lease: stale.lease, now: context.clock.now(), step: context.step("s", of: stale.run.id, output: "stale"),
                            events: nil, transition: transition))
                    }
                }
                try require(try await context.store.steps(runID: stale.run.id).isEmpty, "nothing of a stale commit is stored")
                _ = try await context.store.commit(RunCheckpoint(
                    lease: current.lease, now: context.clock.now(), step: nil, events: nil, transition: .complete(output: "current")))
                let run = try unwrap(try await context.store.run(id: current.run.id, environment: "default"), "the run")
                try require(run.status == .completed && run.output == "current", "the current lease's commit stands: \(run.status)")
            },
            Case("concurrent commits under one lease and a takeover: the takeover's lease alone commits") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                try await context.client().send(Event(name: "a"))
                let stale = try unwrap(try await context.claim(["f"], owner: "w1", lease: 1000).first, "claimed")
                context.clock.advance(by: .seconds(2))
                let current = try unwrap(try await context.claim(["f"], owner: "w2").first, "taken over")
                let outcomes = await withTaskGroup(of: (Bool, Bool).self) { group in
                    for n in 0..<16 {
                        let lease = n.isMultiple(of: 2) ? stale.lease : current.lease
                        group.addTask {
                            do {
                                _ = try await context.store.commit(RunCheckpoint(
                                    lease: lease, now: context.clock.now(), step: context.step("s\(n)", of: stale.run.id, output: .int(Int64(n))),
                                    events: nil, transition: .none))
                                return (lease == current.lease, true)
                            } catch {
                                return (lease == current.lease, false)
                            }
                        }
                    }
                    return await group.reduce(into: [(Bool, Bool)]()) { $0.append($1) }
                }
                try require(outcomes.allSatisfy { isCurrent, committed in isCurrent == committed }, "only the current lease commits")
                let keys = Set(try await context.store.steps(runID: stale.run.id).map(\.key))
                try require(keys == Set((0..<16).filter { !$0.isMultiple(of: 2) }.map { "s\($0)" }), "the stored steps: \(keys.sorted())")
            },
            Case("renew extends a held lease and reports one another claim took over") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                try await context.client().send(Event(name: "a"))
                let first = try unwrap(try await context.claim(["f"], owner: "w1", lease: 1000).first, "claimed")
                try require(try await context.store.renew([first.lease], until: context.clock.now() + 5000).isEmpty, "a held lease renews")
                context.clock.advance(by: .seconds(2))
                try require(try await context.claim(["f"], owner: "w2").isEmpty, "a renewed lease holds past its first expiry")
                context.clock.advance(by: .seconds(4))
                let second = try unwrap(try await context.claim(["f"], owner: "w2").first, "claimed after the renewed lease ran out")
                try require(try await context.store.renew([first.lease], until: context.clock.now() + 5000) == [first.lease],
                            "the taken-over lease is reported lost")
                _ = try await context.store.commit(RunCheckpoint(
                    lease: second.lease, now: context.clock.now(), step: nil, events: nil, transition: .complete(output: nil)))
                try require(try await context.store.renew([second.lease], until: context.clock.now() + 5000).isEmpty,
                            "a lease its holder gave up by ending the run is not reported lost")
            },
            Case("a run ends once: after it completes, no lease can end it again and it is never claimed") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                try await context.client().send(Event(name: "a"))
                let claimed = try unwrap(try await context.claim(["f"], owner: "w1").first, "claimed")
                _ = try await context.store.commit(RunCheckpoint(
                    lease: claimed.lease, now: context.clock.now(), step: nil, events: nil, transition: .complete(output: "first")))
                try await requireThrows(LeaseLostError.self, "a second ending") {
                    _ = try await context.store.commit(RunCheckpoint(
                        lease: claimed.lease, now: context.clock.now(), step: nil, events: nil,
                        transition: .fail(error: ErrorRecord(name: "E", message: "late"), attempt: 1)))
                }
                context.clock.advance(by: .seconds(3600))
                try require(try await context.claim(["f"], owner: "w2").isEmpty, "an ended run is never claimed again")
                let run = try unwrap(try await context.store.run(id: claimed.run.id, environment: "default"), "the run")
                try require(run.status == .completed && run.output == "first" && run.endedAt != nil, "it stays completed")
            },
            Case("a retry and a sleep set a run aside until their time") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                try await context.client().send(Event(name: "a"))
                let claimed = try unwrap(try await context.claim(["f"], owner: "w1").first, "claimed")
                let error = ErrorRecord(name: "E", message: "flaky")
                _ = try await context.store.commit(RunCheckpoint(
                    lease: claimed.lease, now: context.clock.now(), step: nil, events: nil,
                    transition: .retry(at: context.clock.now() + 500, attempt: 1, error: error)))
                let queued = try unwrap(try await context.store.run(id: claimed.run.id, environment: "default"), "the run")
                try require(queued.status == .queued && queued.attempt == 1 && queued.error == error, "queued for its retry")
                try require(try await context.store.nextDueTime(environment: "default", appID: "conformance-app", functionIDs: ["f"])
                            == context.clock.now() + 500, "its retry is the next due time")
                try require(try await context.claim(["f"], owner: "w1").isEmpty, "not claimed before its retry")
                context.clock.advance(by: .milliseconds(500))
                let retried = try unwrap(try await context.claim(["f"], owner: "w1").first, "claimed at its retry")
                _ = try await context.store.commit(RunCheckpoint(
                    lease: retried.lease, now: context.clock.now(), step: nil, events: nil, transition: .sleep(until: context.clock.now() + 60_000)))
                try require(try await context.store.run(id: claimed.run.id, environment: "default")?.status == .sleeping, "sleeping")
                context.clock.advance(by: .milliseconds(59_999))
                try require(try await context.claim(["f"], owner: "w1").isEmpty, "not claimed before it wakes")
                context.clock.advance(by: .milliseconds(1))
                try require(try await context.claim(["f"], owner: "w1").count == 1, "claimed when it wakes")
            },
            Case("cancel ends a run not ended, with its reason, and fences its worker out") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                try await context.client().send([Event(name: "a"), Event(name: "a")])
                let claimed = try await context.claim(["f"], owner: "w1", limit: 1)
                let running = try unwrap(claimed.first, "claimed")
                let reason = ErrorRecord.runCancelled(reason: "api")
                try require(try await context.store.cancel(runID: running.run.id, environment: "default", now: context.clock.now(), reason: reason, events: nil),
                            "a running run is cancelled")
                try require(try await !context.store.cancel(runID: running.run.id, environment: "default", now: context.clock.now(), reason: reason, events: nil),
                            "a run is cancelled once")
                try require(try await !context.store.cancel(runID: running.run.id, environment: "other", now: context.clock.now(), reason: reason, events: nil),
                            "only in its environment")
                try await requireThrows(LeaseLostError.self, "its worker's next commit") {
                    _ = try await context.store.commit(RunCheckpoint(
                        lease: running.lease, now: context.clock.now(), step: context.step("s", of: running.run.id, output: 1), events: nil,
                        transition: .none))
                }
                let run = try unwrap(try await context.store.run(id: running.run.id, environment: "default"), "the run")
                try require(run.status == .cancelled && run.error == reason, "cancelled, with its reason: \(run.status) \(String(describing: run.error))")
                let queued = try unwrap(try await context.allRuns().first { $0.status == .queued }, "the other run")
                try require(try await context.store.cancel(runID: queued.id, environment: "default", now: context.clock.now(), reason: reason, events: nil),
                            "a queued run is cancelled")
                try require(try await context.claim(["f"], owner: "w1").isEmpty, "a cancelled run is never claimed")
            },
            Case("an invoke stores its event and a queued run of the function on it, whatever its triggers") { context in
                try await context.register([(id: "f", triggers: ["a"]), (id: "invoked", triggers: [])])
                let now = context.clock.now()
                let batch = try EventBatch(validating: [Event(name: "x/invoked", data: ["k": "v"])], environment: "default", receivedAt: now)
                let run = try await context.store.invoke(appID: "conformance-app", functionID: "invoked", batch: batch)
                try require(run.functionID == "invoked" && run.appID == "conformance-app" && run.status == .queued && run.rerunOf == nil,
                            "a queued run of the function: \(run.status)")
                let event = try unwrap(try await context.store.event(id: run.eventID, environment: "default"), "its event is stored")
                try require(event.name == "x/invoked" && event.data["k"] == "v", "the event appended: \(event.name)")
                try require(try await context.store.run(id: run.id, environment: "default")?.id == run.id, "the run is stored")
                let claimed = try unwrap(try await context.claim(["invoked"], owner: "w").first, "claimed like any run")
                try require(claimed.run.id == run.id && claimed.event.id == event.id, "with its event")
                try require(try await context.claim(["f"], owner: "w").isEmpty, "the event triggers no other function")
                let before = try await context.store.events(EventQuery(limit: 100)).events.count
                for (app, function, environment) in [("conformance-app", "missing", "default"), ("other-app", "invoked", "default"),
                                                     ("conformance-app", "invoked", "other")] {
                    let elsewhere = try EventBatch(validating: [Event(name: "x/invoked")], environment: environment, receivedAt: now)
                    try await requireThrows(InvokeError.self, "an invoke of \(app)/\(function) in \(environment), not registered") {
                        _ = try await context.store.invoke(appID: app, functionID: function, batch: elsewhere)
                    }
                }
                try require(try await context.store.events(EventQuery(limit: 100)).events.count == before, "a refused invoke stores nothing")
                try require(try await context.store.events(EventQuery(environment: "other", limit: 100)).events.isEmpty, "nor in another environment")
            },
            Case("a rerun is a new queued run of the same function on the same event") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                let eventID = try await context.client().send(Event(name: "a"))
                let claimed = try unwrap(try await context.claim(["f"], owner: "w1").first, "claimed")
                _ = try await context.store.commit(RunCheckpoint(
                    lease: claimed.lease, now: context.clock.now(), step: nil, events: nil, transition: .complete(output: 1)))
                let rerun = try unwrap(
                    try await context.store.rerun(runID: claimed.run.id, environment: "default", now: context.clock.now()), "rerun")
                try require(rerun.id != claimed.run.id && rerun.eventID == eventID && rerun.functionID == "f", "same function and event")
                try require(rerun.status == .queued && rerun.rerunOf == claimed.run.id, "queued, naming the run it reruns")
                try require(try await context.claim(["f"], owner: "w1").first?.run.id == rerun.id, "and claimed like any run")
                try require(try await context.store.rerun(runID: rerun.id, environment: "other", now: context.clock.now()) == nil,
                            "only in its environment")
                try require(try await context.store.runs(RunQuery(eventID: eventID)).count == 2, "the event has both runs")
            },
        ]
    }
}
