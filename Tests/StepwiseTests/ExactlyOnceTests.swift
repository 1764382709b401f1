import Synchronization
import Testing
@testable import Stepwise
import StepwiseTesting

@Suite("Exactly-once sendEvent and fencing")
struct ExactlyOnceTests {
    @Test("sendEvent emits once across retries and replays, and replay returns the same ids")
    func sendEventAcrossRetries() async throws {
        let harness = try Harness()
        let calls = Counter()
        let sentIDs = Mutex<[[EventID]]>([])
        try harness.client.createFunction(id: "onboarding", trigger: .event("app/user.signup"), options: .init(retries: fastRetries)) { event, step in
            let ids = try await step.sendEvent("send-activation-event", [
                Event(name: "app/user.activated", data: ["userId": event.data["userId"] ?? nil]),
                Event(name: "app/user.welcomed", data: ["userId": event.data["userId"] ?? nil]),
            ])
            sentIDs.withLock { $0.append(ids) }
            // Fail twice after the send, outside any step: the function is replayed.
            if step.attempt < 2 { throw PaymentDeclined(code: "after send") }
            return ids.map(\.description)
        }
        try harness.client.createFunction(id: "on-activated", trigger: .event("app/user.activated")) { event, step in
            calls.hit("activated")
        }
        try await harness.client.send(Event(name: "app/user.signup", data: ["userId": "645ea8289ad09eac29230442"]))
        try await harness.runUntilIdle()

        let attempts = sentIDs.withLock { $0 }
        #expect(attempts.count == 3)
        #expect(Set(attempts.map { $0.map(\.description) }).count == 1, "every replay returned the same ids")
        let activated = try await harness.client.events(named: "app/user.activated").events
        let welcomed = try await harness.client.events(named: "app/user.welcomed").events
        #expect(activated.count == 1)
        #expect(welcomed.count == 1)
        #expect(activated.first?.id == attempts.first?[0])
        #expect(calls["activated"] == 1, "the emitted event triggered its function once")
        #expect(try await harness.onlyRun(of: "on-activated").status == .completed)
    }

    @Test("sendEvent refuses invalid events and reserved names without emitting anything")
    func sendEventValidation() async throws {
        let harness = try Harness()
        let errors = Mutex<[StepError]>([])
        try harness.client.createFunction(id: "bad-sender", trigger: .event("go")) { event, step in
            do {
                try await step.sendEvent("forge", Event(name: "stepwise/function.finished", data: [:]))
            } catch let error as StepError {
                errors.withLock { $0.append(error) }
            }
        }
        try await harness.client.send(Event(name: "go"))
        try await harness.runUntilIdle()
        #expect(errors.withLock { $0.count } == 1)
        #expect(errors.withLock { $0.first?.error.message.contains("reserved") } == true)
        let forged = try await harness.client.events(named: "stepwise/function.finished").events
        #expect(forged.allSatisfy { $0.data["function_id"] == "bad-sender" }, "only the real system event exists")
    }

    @Test("a worker whose lease was taken over commits nothing")
    func fencing() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let clock = ManualClock()
        let client = StepwiseClient(id: "test-app", store: store, configuration: .init(clock: clock))
        let entered = Doorbell()
        let proceed = Doorbell()
        let bodies = Counter()
        try client.createFunction(id: "slow", trigger: .event("slow")) { event, step in
            try await step.run("stalls") { () -> String in
                bodies.hit("stalls")
                if bodies["stalls"] == 1 {
                    entered.ring()
                    await proceed.wait(timeout: .seconds(30))
                }
                return "done by attempt \(bodies["stalls"])"
            }
        }
        let slowWorker = client.worker(.init(leaseDuration: .seconds(10)))
        try await client.registerFunctions(completeSet: true)
        try await client.send(Event(name: "slow"))

        // The first worker claims the run and stalls inside the step.
        let first = Task { try await slowWorker.drain() }
        await entered.wait(timeout: .seconds(30))
        // Its lease runs out, and another worker takes the run over and finishes it.
        clock.advance(by: .seconds(11))
        let second = client.worker(.init(leaseDuration: .seconds(10)))
        try await second.drain()
        let run = try #require(try await store.runs(RunQuery(functionID: "slow")).first)
        #expect(run.status == .completed)
        #expect(run.output == "done by attempt 2")
        let stepAfterTakeover = try await store.steps(runID: run.id)
        #expect(stepAfterTakeover.first?.output == "done by attempt 2")

        // The stalled worker wakes up: its step commit is refused, and changes nothing.
        proceed.ring()
        _ = try await first.value
        let stepsAfter = try await store.steps(runID: run.id)
        #expect(stepsAfter == stepAfterTakeover)
        #expect(try await store.run(id: run.id, environment: "default")?.status == .completed)
        #expect(try await client.events(named: SystemEvent.functionFinished).events.count == 1)
    }
}
