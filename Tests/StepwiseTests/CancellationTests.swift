import Testing
@testable import Stepwise
import StepwiseTesting

@Suite("cancelOn and timeouts")
struct CancellationTests {
    @Test("cancelOn: a matching event cancels the run; another key's event does not")
    func cancelOnMatch() async throws {
        let harness = try Harness()
        let calls = Counter()
        try harness.client.createFunction(
            id: "abandoned-cart-reminder",
            trigger: .event("storefront/cart.abandoned"),
            options: .init(cancelOn: [.event("storefront/cart.checkout.completed", match: "data.cartId")])
        ) { event, step in
            try await step.sleep("wait-an-hour", for: .seconds(3600))
            try await step.perform("send-reminder") { calls.hit("reminder-\(event.data["cartId"]?.stringValue ?? "")") }
        }
        try await harness.client.send([
            Event(name: "storefront/cart.abandoned", data: ["cartId": "c-1"]),
            Event(name: "storefront/cart.abandoned", data: ["cartId": "c-2"]),
        ])
        try await harness.worker.drain()
        let published = harness.client.subscribe()
        // c-1 checks out: its reminder is cancelled; c-2's is not.
        let checkout = try await harness.client.send(Event(name: "storefront/cart.checkout.completed", data: ["cartId": "c-1"]))
        // The cancellation is stored in the same transaction as the checkout, and published on
        // the bus with it, right after it.
        let marker = try await harness.client.send(Event(name: "test/marker"))
        var received: [StoredEvent] = []
        for await event in published {
            received.append(event)
            if event.id == marker { break }
        }
        #expect(received.map(\.name) == ["storefront/cart.checkout.completed", SystemEvent.functionCancelled, "test/marker"])
        #expect(received.first?.id == checkout)
        #expect(received.dropFirst().first?.data["cancelled_by"] == .string(checkout.description))
        try await harness.runUntilIdle()
        #expect(calls["reminder-c-1"] == 0)
        #expect(calls["reminder-c-2"] == 1)
        let runs = try await harness.runs(of: "abandoned-cart-reminder")
        #expect(Set(runs.map(\.status)) == [.cancelled, .completed])
        let cancelled = try await harness.client.events(named: SystemEvent.functionCancelled).events
        #expect(cancelled.count == 1)
        #expect(cancelled.first?.data["reason"] == "cancelOn")
        #expect(cancelled.first?.data["cancelled_by"] == .string(checkout.description))
    }

    @Test("cancelOn listens only for events after the run was created, and only within its timeout")
    func cancelOnWindow() async throws {
        let harness = try Harness()
        try harness.client.createFunction(
            id: "follow-up",
            trigger: .event("lead/created"),
            options: .init(cancelOn: [.event("lead/closed", match: "data.leadId", timeout: .seconds(600))])
        ) { event, step in
            try await step.sleep("a-while", for: .seconds(3600))
        }
        // A close that comes before the lead's run exists cancels nothing.
        try await harness.client.send(Event(name: "lead/closed", data: ["leadId": "l-1"]))
        try await harness.client.send([Event(name: "lead/created", data: ["leadId": "l-1"]), Event(name: "lead/created", data: ["leadId": "l-2"])])
        try await harness.worker.drain()
        // Past the cancellation's timeout, a close no longer cancels.
        harness.clock.advance(by: .seconds(601))
        try await harness.client.send(Event(name: "lead/closed", data: ["leadId": "l-2"]))
        try await harness.runUntilIdle()
        let runs = try await harness.runs(of: "follow-up")
        #expect(runs.allSatisfy { $0.status == .completed })
    }

    @Test("cancelOn stops a waiting run and an invoking run learns of it")
    func cancelOnWaitingRun() async throws {
        let harness = try Harness()
        try harness.client.createFunction(
            id: "approval",
            trigger: .event("expense/submitted"),
            options: .init(cancelOn: [.event("expense/withdrawn", match: "data.expenseId")])
        ) { event, step in
            _ = try await step.waitForEvent("decision", event: "expense/approved", timeout: .seconds(86_400), match: "data.expenseId")
        }
        try await harness.client.send(Event(name: "expense/submitted", data: ["expenseId": "e-1"]))
        try await harness.worker.drain()
        try await harness.client.send(Event(name: "expense/withdrawn", data: ["expenseId": "e-1"]))
        let run = try await harness.onlyRun(of: "approval")
        #expect(run.status == .cancelled)
        try await harness.client.send(Event(name: "expense/approved", data: ["expenseId": "e-1"]))
        #expect(try await harness.worker.drain() == nil)
        #expect(try await harness.onlyRun(of: "approval").status == .cancelled)
    }

    @Test("timeouts.start cancels a run that waited too long to start")
    func startTimeout() async throws {
        let harness = try Harness()
        let calls = Counter()
        try harness.client.createFunction(id: "fresh-only", trigger: .event("tick"), options: .init(timeouts: FunctionTimeouts(start: .seconds(30)))) { event, step in
            try await step.perform("work") { calls.hit("work") }
        }
        try await harness.client.send(Event(name: "tick"))
        harness.clock.advance(by: .seconds(31))  // no worker was up in time
        try await harness.worker.drain()
        #expect(calls["work"] == 0)
        #expect(try await harness.onlyRun(of: "fresh-only").status == .cancelled)
        let event = try #require(try await harness.client.events(named: SystemEvent.functionCancelled).events.first)
        #expect(event.data["reason"] == "timeouts.start")
    }

    @Test("timeouts.finish cancels a run whose sleep would outlast it, at the deadline")
    func finishTimeout() async throws {
        let harness = try Harness()
        let calls = Counter()
        try harness.client.createFunction(id: "bounded", trigger: .event("go"), options: .init(timeouts: FunctionTimeouts(finish: .seconds(60)))) { event, step in
            try await step.sleep("too-long", for: .seconds(3600))
            try await step.perform("after") { calls.hit("after") }
        }
        let start = harness.clock.now()
        try await harness.client.send(Event(name: "go"))
        #expect(try await harness.worker.drain() == start + 60_000, "the run wakes at its deadline, not after its sleep")
        try await harness.runUntilIdle()
        #expect(calls["after"] == 0)
        #expect(try await harness.onlyRun(of: "bounded").status == .cancelled)
    }
}
