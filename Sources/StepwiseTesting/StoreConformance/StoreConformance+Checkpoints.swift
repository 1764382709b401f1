@_spi(StoreImplementation) import Stepwise

extension StoreConformance {
    /// What a checkpoint writes as the engine asks: the ids of appended events, a started run,
    /// waits that end with their step, and a run's own cancellation; and what a claim reports.
    static var checkpointCases: [Case] {
        [
            Case("step checkpoints of many runs at once each commit under their own lease; a stale one among them is refused alone") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                let client = context.client()
                for _ in 0..<24 { try await client.send(Event(name: "a")) }
                var runs = try await context.claim(["f"], owner: "w1", lease: 1000)
                try require(runs.count == 24, "every run claimed: \(runs.count)")
                // One run's lease runs out and another worker takes it over: its first lease is stale.
                let stale = runs.removeFirst()
                context.clock.advance(by: .seconds(2))
                let current = try unwrap(try await context.claim(["f"], owner: "w2", limit: 1).first, "taken over")
                try require(current.run.id == stale.run.id, "the stale run is the one taken over")
                let now = context.clock.now()
                let refused = try await withThrowingTaskGroup(of: (RunID, Bool).self) { group in
                    for run in runs + [stale] {
                        group.addTask {
                            let checkpoint = RunCheckpoint(
                                lease: run.lease, now: now, steps: [StepWrite(context.step("s", of: run.run.id, output: .string(run.run.id.description)))],
                                events: nil, transition: .none)
                            do {
                                _ = try await context.store.commit(checkpoint)
                                return (run.run.id, false)
                            } catch is LeaseLostError {
                                return (run.run.id, true)
                            }
                        }
                    }
                    var refused: [RunID] = []
                    for try await (id, wasRefused) in group where wasRefused { refused.append(id) }
                    return refused
                }
                try require(refused == [stale.run.id], "only the stale checkpoint is refused: \(refused)")
                for run in runs {
                    let steps = try await context.store.steps(runID: run.run.id)
                    try require(
                        steps.count == 1 && steps[0].output == .string(run.run.id.description),
                        "run \(run.run.id) has its own step: \(steps.map(\.output))")
                }
                try require(try await context.store.steps(runID: stale.run.id).isEmpty, "the stale checkpoint wrote nothing")
            },
            Case("a step that records the ids of the events appended gets them, a duplicate's as the first event's") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                let first = try await context.client().send(Event(name: "b", id: "once"))
                try await context.client().send(Event(name: "a"))
                let run = try unwrap(try await context.claim(["f"], owner: "w").first, "claimed")
                let events = try EventBatch(
                    validating: [Event(name: "b", id: "once"), Event(name: "c")], environment: "default", receivedAt: context.clock.now())
                let record = StepRecord(
                    runID: run.run.id, key: "send", stepID: "send", kind: .sendEvent, status: .completed, output: nil, error: nil,
                    failedAttempts: 0, startedAt: context.clock.now(), endedAt: context.clock.now())
                let outcomes = try await context.store.commit(RunCheckpoint(
                    lease: run.lease, now: context.clock.now(), steps: [StepWrite(record, output: .idsOfAppendedEvents)],
                    events: events, transition: .none))
                try require(outcomes.count == 2 && outcomes[0].eventID == first, "the duplicate answers the first event's id")
                let stored = try unwrap(try await context.store.steps(runID: run.run.id).first, "the step is recorded")
                try require(stored.sentEventIDs == outcomes.map(\.eventID), "the step holds the appended ids: \(String(describing: stored.output))")
            },
            Case("a checkpoint that starts a run inserts it with the one event it appends, and its cancellation waits") { context in
                try await context.register([(id: "f", triggers: ["a"]), (id: "invoked", triggers: [])])
                try await context.client().send(Event(name: "a"))
                let run = try unwrap(try await context.claim(["f"], owner: "w").first, "claimed")
                let now = context.clock.now()
                let events = try EventBatch(validating: [Event(name: "x/invoked", data: ["k": "v"])], environment: "default", receivedAt: now)
                let event = try unwrap(events.events.first, "the event")
                let settings = FunctionSettings(cancelOn: [.event("x/stop", match: "data.k")])
                let started = NewRun.triggered(
                    id: RunID(ULIDGenerator.shared.next(milliseconds: now)), appID: "conformance-app", functionID: "invoked",
                    settings: settings, by: event, environment: "default", receivedAt: now)
                let outcomes = try await context.store.commit(RunCheckpoint(
                    lease: run.lease, now: now, steps: [], events: events, startsRun: started,
                    transition: .wait(waits: [], until: now + 60_000)))
                let invoked = try unwrap(try await context.store.run(id: started.id, environment: "default"), "the run is started")
                try require(invoked.eventID == outcomes.first?.eventID && invoked.status == .queued, "with the appended event, queued")
                try await context.client().send(Event(name: "x/stop", data: ["k": "v"]))
                let cancelled = try unwrap(try await context.store.run(id: started.id, environment: "default"), "the run")
                try require(cancelled.status == .cancelled, "its cancelOn wait was inserted with it: \(cancelled.status)")
            },
            Case("a step write that ends its waits drops them: an event no longer resumes the run") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                try await context.client().send(Event(name: "a"))
                let run = try unwrap(try await context.claim(["f"], owner: "w").first, "claimed")
                let now = context.clock.now()
                let waiting = StepRecord(
                    runID: run.run.id, key: "w", stepID: "w", kind: .waitForEvent, status: .waiting, output: ["until": .int(now + 1000)],
                    error: nil, failedAttempts: 0, startedAt: now, endedAt: now)
                let wait = RunWait(stepKey: "w", eventName: "x/ping", matchPath: nil, matchValue: nil, expiresAt: now + 1000)
                _ = try await context.store.commit(RunCheckpoint(
                    lease: run.lease, now: now, steps: [StepWrite(waiting)], events: nil, transition: .wait(waits: [wait], until: now + 1000)))
                context.clock.advance(by: .seconds(1))
                let timedOut = try unwrap(try await context.claim(["f"], owner: "w").first, "claimed at the timeout")
                try require(timedOut.claimedFrom == .waiting && timedOut.claimedAt == context.clock.now(), "the claim says it was waiting")
                let ended = StepRecord(
                    runID: run.run.id, key: "w", stepID: "w", kind: .waitForEvent, status: .completed, output: .null, error: nil,
                    failedAttempts: 0, startedAt: now, endedAt: context.clock.now())
                // The run waits again, on another step: only that step's event may resume it now.
                let next = RunWait(stepKey: "w2", eventName: "x/other", matchPath: nil, matchValue: nil, expiresAt: context.clock.now() + 60_000)
                _ = try await context.store.commit(RunCheckpoint(
                    lease: timedOut.lease, now: context.clock.now(), steps: [StepWrite(ended, endsWaits: true)], events: nil,
                    transition: .wait(waits: [next], until: context.clock.now() + 60_000)))
                try await context.client().send(Event(name: "x/ping"))
                let after = try unwrap(try await context.store.run(id: run.run.id, environment: "default"), "the run")
                try require(after.status == .waiting, "the dropped wait resumed nothing: \(after.status)")
                let step = try unwrap(try await context.store.steps(runID: run.run.id).first, "the step")
                try require(step.status == .completed && step.output == .null, "the step keeps its timeout: \(step.status)")
            },
            Case("a run cancelled by its own worker ends cancelled once, with its event, and a stale lease cannot") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                try await context.client().send(Event(name: "a"))
                let stale = try unwrap(try await context.claim(["f"], owner: "w1", lease: 1000).first, "claimed")
                context.clock.advance(by: .seconds(2))
                let current = try unwrap(try await context.claim(["f"], owner: "w2").first, "taken over")
                let now = context.clock.now()
                let event = SystemEvent.cancelled(run: current.run, triggeringEvent: current.event, reason: "timeouts.finish", at: now)
                let batch = EventBatch(environment: "default", events: [event], receivedAt: now, dedupeWindow: 0)
                try await requireThrows(LeaseLostError.self, "a stale cancel") {
                    _ = try await context.store.commit(RunCheckpoint(
                        lease: stale.lease, now: now, steps: [], events: batch, transition: .cancel(error: .runCancelled(reason: "timeouts.finish"))))
                }
                try require(try await context.allEvents().filter { $0.name == SystemEvent.functionCancelled }.isEmpty, "a stale cancel appends nothing")
                _ = try await context.store.commit(RunCheckpoint(
                    lease: current.lease, now: now, steps: [], events: batch, transition: .cancel(error: .runCancelled(reason: "timeouts.finish"))))
                let run = try unwrap(try await context.store.run(id: current.run.id, environment: "default"), "the run")
                try require(run.status == .cancelled && run.error == .runCancelled(reason: "timeouts.finish"), "cancelled: \(run.status)")
                try require(try await context.allEvents().filter { $0.name == SystemEvent.functionCancelled }.count == 1, "one cancellation event")
                try require(try await context.claim(["f"], owner: "w3").isEmpty, "an ended run is never claimed")
            },
            Case("a sleeping run is claimed at its wake-up time and says so") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                try await context.client().send(Event(name: "a"))
                let run = try unwrap(try await context.claim(["f"], owner: "w").first, "claimed")
                try require(run.claimedFrom == .queued, "a new run is claimed out of queued: \(run.claimedFrom)")
                _ = try await context.store.commit(RunCheckpoint(
                    lease: run.lease, now: context.clock.now(), step: nil, events: nil, transition: .sleep(until: context.clock.now() + 5000)))
                context.clock.advance(by: .milliseconds(4999))
                try require(try await context.claim(["f"], owner: "w").isEmpty, "not before it wakes")
                context.clock.advance(by: .milliseconds(1))
                let woken = try unwrap(try await context.claim(["f"], owner: "w").first, "claimed when it wakes")
                try require(woken.claimedFrom == .sleeping, "claimed out of sleeping: \(woken.claimedFrom)")
            },
            Case("a run started with several events gets them all, in order, in its claim and its rerun") { context in
                try await context.register([(id: "f", triggers: ["a"]), (id: "batch", triggers: [])])
                try await context.client().send(Event(name: "a"))
                let run = try unwrap(try await context.claim(["f"], owner: "w").first, "claimed")
                let now = context.clock.now()
                let events = try EventBatch(
                    validating: (0..<3).map { Event(name: "x/item", data: ["n": .int(Int64($0))]) }, environment: "default", receivedAt: now)
                let first = try unwrap(events.events.first, "the first event")
                let batch = NewRun.triggered(
                    id: RunID(ULIDGenerator.shared.next(milliseconds: now)), appID: "conformance-app", functionID: "batch",
                    settings: FunctionSettings(), by: first, environment: "default", receivedAt: now)
                let outcomes = try await context.store.commit(RunCheckpoint(
                    lease: run.lease, now: now, steps: [], events: events, startsRun: batch, transition: .complete(output: nil)))
                let claimed = try unwrap(try await context.claim(["batch"], owner: "w").first, "the batch's run")
                try require(claimed.events.map(\.id) == outcomes.map(\.eventID), "every event, in order: \(claimed.events.count)")
                try require(claimed.event.id == outcomes.first?.eventID && claimed.run.eventCount == 3, "the first is the run's event")
                _ = try await context.store.commit(RunCheckpoint(
                    lease: claimed.lease, now: now, step: nil, events: nil, transition: .complete(output: nil)))
                let rerun = try unwrap(try await context.store.rerun(runID: claimed.run.id, environment: "default", now: now), "rerun")
                let again = try unwrap(try await context.claim(["batch"], owner: "w").first { $0.run.id == rerun.id }, "the rerun")
                try require(again.events.map(\.id) == outcomes.map(\.eventID), "a rerun gets the same events")
            },
            Case("every attempt a checkpoint records is kept, not only the last, by step then number") { context in
                try await context.register([(id: "f", triggers: ["a"])])
                try await context.client().send(Event(name: "a"))
                var lease = try unwrap(try await context.claim(["f"], owner: "w").first, "claimed").lease
                let failure = ErrorRecord(name: "Boom", message: "try again")
                for number in 1...3 {
                    let start = context.clock.now()
                    context.clock.advance(by: .milliseconds(10))
                    let status: StepStatus = number < 3 ? .errored : .completed
                    let record = StepRecord(
                        runID: lease.runID, key: "charge", stepID: "charge", kind: .run, status: status, output: number < 3 ? nil : 1,
                        error: number < 3 ? failure : nil, failedAttempts: min(number, 2), startedAt: start, endedAt: context.clock.now())
                    let attempt = StepAttempt(
                        key: "charge", number: number, status: status, error: record.error, startedAt: start, endedAt: context.clock.now())
                    _ = try await context.store.commit(RunCheckpoint(
                        lease: lease, now: context.clock.now(), steps: [StepWrite(record, attempt: attempt)], events: nil,
                        transition: number < 3 ? .retry(at: context.clock.now(), attempt: 0, error: failure) : .none))
                    if number < 3 { lease = try unwrap(try await context.claim(["f"], owner: "w").first, "claimed again").lease }
                }
                let attempts = try await context.store.attempts(runID: lease.runID)
                try require(attempts.map(\.number) == [1, 2, 3], "three attempts: \(attempts.map(\.number))")
                try require(attempts.map(\.status) == [.errored, .errored, .completed], "each as it ended")
                try require(attempts[0].error == failure && attempts[2].error == nil, "with its error")
                try require(attempts.allSatisfy { $0.endedAt - $0.startedAt == 10 }, "and its times")
            },
        ]
    }
}
