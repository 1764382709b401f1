import Foundation
import Synchronization
import Testing
@testable import Stepwise
import StepwiseTesting

@Suite("Durable sleeps, waits and cancellation")
struct DurableWaitTests {
    @Test("a sleeping run is set aside and resumes by replay when its time comes")
    func sleep() async throws {
        let harness = try Harness()
        let calls = Counter()
        try harness.client.createFunction(id: "reminder", trigger: .event("app/user.signup")) { event, step in
            try await step.perform("welcome") { calls.hit("welcome") }
            try await step.sleep("wait-a-day", for: .seconds(24 * 3600))
            try await step.perform("follow-up") { calls.hit("follow-up") }
            return "done"
        }
        let start = harness.clock.now()
        try await harness.client.send(Event(name: "app/user.signup"))
        let next = try await harness.worker.drain()
        #expect(next == start + 24 * 3600 * 1000)
        let sleeping = try await harness.onlyRun(of: "reminder")
        #expect(sleeping.status == .sleeping)
        #expect(calls["welcome"] == 1)
        #expect(calls["follow-up"] == 0)

        harness.clock.advance(by: .seconds(24 * 3600 - 1))
        #expect(try await harness.worker.drain() == next, "not due a second early")
        harness.clock.advance(by: .seconds(1))
        try await harness.worker.drain()
        let run = try await harness.onlyRun(of: "reminder")
        #expect(run.status == .completed)
        #expect(calls["welcome"] == 1, "replay did not run the first step again")
        #expect(calls["follow-up"] == 1)
        let steps = try await harness.client.steps(ofRun: run.id)
        #expect(steps.map(\.key) == ["welcome", "wait-a-day", "follow-up"])
        #expect(steps[1].status == .completed)
    }

    @Test("sleepUntil wakes at the given time")
    func sleepUntil() async throws {
        let harness = try Harness()
        let wake = harness.clock.now() + 90_000
        try harness.client.createFunction(id: "alarm", trigger: .event("alarm")) { event, step in
            try await step.sleepUntil("until-then", until: Date(milliseconds: wake))
        }
        try await harness.client.send(Event(name: "alarm"))
        #expect(try await harness.worker.drain() == wake)
        try await harness.runUntilIdle()
        #expect(harness.clock.now() == wake)
        #expect(try await harness.onlyRun(of: "alarm").status == .completed)
    }

    /// Two clients (two "processes") on one database file, for restarts.
    func restartable(_ directory: borrowing TemporaryDirectory, clock: ManualClock, define: (StepwiseClient) throws -> Void) throws -> (StepwiseClient, Worker) {
        let client = StepwiseClient(id: "test-app", store: try SQLiteStore(.init(path: directory.path("waits.db"))), configuration: .init(clock: clock))
        try define(client)
        return (client, client.worker())
    }

    @Test("a restart in the middle of a sleep resumes the run in the new process")
    func restartDuringSleep() async throws {
        let directory = try TemporaryDirectory()
        let clock = ManualClock()
        let calls = Counter()
        let define: (StepwiseClient) throws -> Void = { client in
            try client.createFunction(id: "nap", trigger: .event("nap")) { event, step in
                let before = try await step.run("before") { calls.hit("before"); return 41 }
                try await step.sleep("nap", for: .seconds(600))
                return try await step.run("after") { calls.hit("after"); return before + 1 }
            }
        }
        do {
            let (client, worker) = try restartable(directory, clock: clock, define: define)
            try await client.send(Event(name: "nap"))
            try await worker.drain()
            #expect(try await client.store.runs(RunQuery(functionID: "nap")).first?.status == .sleeping)
        }
        // The first process is gone; a new one on the same file picks the run up when it wakes.
        clock.advance(by: .seconds(600))
        let (client, worker) = try restartable(directory, clock: clock, define: define)
        try await worker.runUntilIdle(advancing: clock)
        let run = try #require(try await client.store.runs(RunQuery(functionID: "nap")).first)
        #expect(run.status == .completed)
        #expect(run.output == 42)
        #expect(calls["before"] == 1)
        #expect(calls["after"] == 1)
    }

    @Test("waitForEvent returns the matching event and the run resumes at once")
    func waitMatches() async throws {
        let harness = try Harness()
        let received = Mutex<[StoredEvent?]>([])
        try harness.client.createFunction(id: "onboarding", trigger: .event("app/user.signup")) { event, step in
            let activation = try await step.waitForEvent("wait-for-activation", event: "app/user.activated", timeout: .seconds(3 * 24 * 3600), match: "data.userId")
            received.withLock { $0.append(activation) }
            return activation?.data["plan"] ?? "none"
        }
        try await harness.client.send(Event(name: "app/user.signup", data: ["userId": "u-1"]))
        try await harness.worker.drain()
        #expect(try await harness.onlyRun(of: "onboarding").status == .waiting)

        // Another user's activation must not match; this user's does.
        try await harness.client.send(Event(name: "app/user.activated", data: ["userId": "u-2", "plan": "free"]))
        #expect(try await harness.onlyRun(of: "onboarding").status == .waiting)
        let activated = try await harness.client.send(Event(name: "app/user.activated", data: ["userId": "u-1", "plan": "pro"]))
        let resumed = try await harness.onlyRun(of: "onboarding")
        #expect(resumed.status == .queued)
        #expect(resumed.availableAt == harness.clock.now(), "resumes at once, not at the timeout")
        try await harness.worker.drain()

        let run = try await harness.onlyRun(of: "onboarding")
        #expect(run.status == .completed)
        #expect(run.output == "pro")
        #expect(received.withLock { $0.count } == 1, "the closure went past the wait once")
        #expect(received.withLock { $0.first??.id } == activated)
        #expect(received.withLock { $0.first??.data["userId"] } == "u-1")
    }

    @Test("a wait's condition reads event.id and event.ts of the triggering event, and async.id of the incoming one")
    func conditionReadsIDAndTimestamp() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "reply", trigger: .event("ticket/opened")) { event, step in
            let reply = try await step.waitForEvent(
                "reply", event: "ticket/replied", timeout: .seconds(3600),
                if: "async.data.ticket == event.id && async.data.at >= event.ts && async.id != event.id")
            return reply?.data["text"] ?? "none"
        }
        let opened = try await harness.client.send(Event(name: "ticket/opened", data: [:], ts: 1_764_000_000_000))
        try await harness.worker.drain()
        // The right ticket but too early, then another ticket: neither matches.
        try await harness.client.send(Event(name: "ticket/replied", data: ["ticket": .string(opened.description), "at": 1_763_999_999_999, "text": "early"]))
        try await harness.client.send(Event(name: "ticket/replied", data: ["ticket": "01OTHER", "at": 1_764_000_000_001, "text": "other"]))
        #expect(try await harness.onlyRun(of: "reply").status == .waiting)
        try await harness.client.send(Event(name: "ticket/replied", data: ["ticket": .string(opened.description), "at": 1_764_000_000_001, "text": "yes"]))
        try await harness.worker.drain()
        #expect(try await harness.onlyRun(of: "reply").output == "yes")
    }

    @Test("an event that arrived before the wait began does not match")
    func eventBeforeWait() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "late-waiter", trigger: .event("start")) { event, step in
            try await step.run("slow-first-step") { 1 }
            let found = try await step.waitForEvent("wait", event: "signal", timeout: .seconds(60))
            return found == nil ? "timed out" : "matched"
        }
        try await harness.client.send(Event(name: "start"))
        try await harness.client.send(Event(name: "signal"))  // before the run has even started
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "late-waiter")
        #expect(run.output == "timed out")
    }

    @Test("a wait times out with nil")
    func waitTimesOut() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "patient", trigger: .event("start")) { event, step in
            let found = try await step.waitForEvent("wait", event: "never", timeout: .seconds(3600), match: "data.id")
            return found == nil ? "timed out" : "matched"
        }
        let start = harness.clock.now()
        try await harness.client.send(Event(name: "start", data: ["id": 7]))
        #expect(try await harness.worker.drain() == start + 3_600_000)
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "patient")
        #expect(run.output == "timed out")
        // A matching event after the timeout changes nothing.
        try await harness.client.send(Event(name: "never", data: ["id": 7]))
        #expect(try await harness.onlyRun(of: "patient").output == "timed out")
    }

    @Test("a restart in the middle of a wait: the event still resumes the run in the new process")
    func restartDuringWait() async throws {
        let directory = try TemporaryDirectory()
        let clock = ManualClock()
        let define: (StepwiseClient) throws -> Void = { client in
            try client.createFunction(id: "approval", trigger: .event("expense/submitted")) { event, step in
                let decision = try await step.waitForEvent("approval", event: "expense/approved", timeout: .seconds(7 * 24 * 3600), match: "data.expenseId")
                return decision?.data["by"] ?? "nobody"
            }
        }
        do {
            let (client, worker) = try restartable(directory, clock: clock, define: define)
            try await client.send(Event(name: "expense/submitted", data: ["expenseId": "e-9"]))
            try await worker.drain()
        }
        clock.advance(by: .seconds(3600))
        let (client, worker) = try restartable(directory, clock: clock, define: define)
        try await client.send(Event(name: "expense/approved", data: ["expenseId": "e-9", "by": "alice"]))
        try await worker.drain()
        let run = try #require(try await client.store.runs(RunQuery(functionID: "approval")).first)
        #expect(run.status == .completed)
        #expect(run.output == "alice")
    }

    @Test("matching an incoming event against waiting runs uses the index")
    func indexedMatch() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let plan = try await store.writer.write { connection -> String in
            var details: [String] = []
            try connection.query(
                "EXPLAIN QUERY PLAN SELECT seq, run_id, step_key FROM run_waits WHERE environment = ? AND event_name = ? AND match_path = ? AND match_value = ?",
                [.text("default"), .text("a"), .text("data.id"), .text("1")]
            ) { row in details.append(row.text(3) ?? "") }
            return details.joined(separator: "; ")
        }
        #expect(plan.contains("USING INDEX run_waits_by_match"), "\(plan)")
        #expect(!plan.contains("SCAN"), "\(plan)")
    }

    @Test("cancelling a sleeping run: it ends cancelled, emits function.cancelled, and runs no further step")
    func cancelDuringSleep() async throws {
        let harness = try Harness()
        let calls = Counter()
        try harness.client.createFunction(id: "drip", trigger: .event("drip/start")) { event, step in
            try await step.perform("first") { calls.hit("first") }
            try await step.sleep("pause", for: .seconds(3600))
            try await step.perform("second") { calls.hit("second") }
        }
        let eventID = try await harness.client.send(Event(name: "drip/start"))
        try await harness.worker.drain()
        let run = try await harness.onlyRun(of: "drip")
        #expect(run.status == .sleeping)

        #expect(try await harness.client.cancelRun(run.id))
        #expect(try await !harness.client.cancelRun(run.id), "a run is cancelled once")
        try await harness.runUntilIdle()
        #expect(calls["first"] == 1)
        #expect(calls["second"] == 0)
        #expect(try await harness.client.run(id: run.id)?.status == .cancelled)
        let cancelled = try await harness.client.events(named: SystemEvent.functionCancelled).events
        #expect(cancelled.count == 1)
        #expect(cancelled.first?.data["run_id"] == .string(run.id.description))
        #expect(cancelled.first?.data["event"]?["id"] == .string(eventID.description))
    }

    @Test("cancelling a running run stops it: its step's result is not recorded")
    func cancelWhileRunning() async throws {
        let harness = try Harness()
        let entered = Doorbell()
        let proceed = Doorbell()
        let calls = Counter()
        try harness.client.createFunction(id: "long", trigger: .event("long")) { event, step in
            try await step.run("slow") { () -> Int in
                entered.ring()
                await proceed.wait(timeout: .seconds(30))
                return 1
            }
            try await step.perform("never") { calls.hit("never") }
        }
        try await harness.client.send(Event(name: "long"))
        let draining = Task { try await harness.worker.drain() }
        await entered.wait(timeout: .seconds(30))
        let run = try await harness.onlyRun(of: "long")
        #expect(try await harness.client.cancelRun(run.id))
        proceed.ring()
        _ = try await draining.value
        #expect(calls["never"] == 0)
        #expect(try await harness.client.steps(ofRun: run.id).isEmpty)
        #expect(try await harness.client.run(id: run.id)?.status == .cancelled)
    }

    @Test("cancelling a waiting run drops its wait")
    func cancelDuringWait() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "waiter", trigger: .event("start")) { event, step in
            _ = try await step.waitForEvent("wait", event: "go", timeout: .seconds(3600))
        }
        try await harness.client.send(Event(name: "start"))
        try await harness.worker.drain()
        let run = try await harness.onlyRun(of: "waiter")
        #expect(try await harness.client.cancelRun(run.id))
        try await harness.client.send(Event(name: "go"))
        #expect(try await harness.client.run(id: run.id)?.status == .cancelled)
        #expect(try await harness.worker.drain() == nil, "nothing left to run")
    }

    @Test("parallel steps checkpoint on their own and replay in any order")
    func parallelSteps() async throws {
        let harness = try Harness()
        let calls = Counter()
        try harness.client.createFunction(id: "parallel", trigger: .event("fan"), options: .init(retries: fastRetries)) { event, step in
            async let a = step.run("a") { () -> Int in calls.hit("a"); try await Task.sleep(for: .milliseconds(20)); return 1 }
            async let b = step.run("b") { () -> Int in calls.hit("b"); return 2 }
            async let c = step.run("c") { () -> Int in
                calls.hit("c")
                if calls["c"] == 1 { throw PaymentDeclined(code: "c fails once") }
                return 3
            }
            let total = try await a + b + c
            let sum = try await withThrowingTaskGroup(of: Int.self) { group in
                for n in 0..<5 {
                    group.addTask { try await step.run("group-\(n)") { calls.hit("group"); return n } }
                }
                return try await group.reduce(0, +)
            }
            return total + sum
        }
        try await harness.client.send(Event(name: "fan"))
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "parallel")
        #expect(run.status == .completed)
        #expect(run.output == 16)
        #expect(calls["c"] == 2)
        // a and b ran again only if c's failure was committed before their results were
        // (the run was already rescheduled, so their commits were refused).
        #expect(calls["a"] <= 2)
        #expect(calls["b"] <= 2)
        #expect(calls["group"] == 5)
        let keys = Set(try await harness.client.steps(ofRun: run.id).map(\.key))
        #expect(keys == ["a", "b", "c", "group-0", "group-1", "group-2", "group-3", "group-4"])
    }
}
