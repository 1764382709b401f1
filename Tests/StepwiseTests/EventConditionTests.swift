import Synchronization
import Testing
@testable import Stepwise
import StepwiseTesting

@Suite("Event conditions (if:)")
struct EventConditionTests {
    let trigger: JSON = ["name": "billing/invoice.created", "data": ["userId": "u-1", "minimum": 100], "user": nil]

    @Test("conditions evaluate against the incoming and triggering events", arguments: [
        ("async.data.amount >= 100", true),
        ("async.data.amount > 100", true),
        ("async.data.amount < 100", false),
        ("async.data.userId == event.data.userId", true),
        ("async.data.userId != event.data.userId", false),
        ("async.data.amount >= event.data.minimum && async.data.currency == 'EUR'", true),
        ("async.data.currency == \"USD\" || async.data.amount == 150", true),
        ("!(async.data.currency == 'EUR')", false),
        ("async.data.missing == null", true),
        ("async.data.flag", true),
        ("async.data.amount > 'a'", false),
        ("async.name == 'billing/invoice.paid'", true),
        ("(async.data.amount == 150.0)", true),
    ])
    func evaluate(text: String, expected: Bool) throws {
        let incoming: JSON = ["name": "billing/invoice.paid", "data": ["userId": "u-1", "amount": 150, "currency": "EUR", "flag": true], "user": nil]
        let condition = try EventCondition(text)
        #expect(condition.isSatisfied(by: incoming, triggering: trigger) == expected)
        // Bound to the triggering event and written out, it means the same.
        let stored = try EventCondition(condition.binding(event: trigger).description)
        #expect(stored.isSatisfied(by: incoming) == expected, "\(stored)")
    }

    @Test("malformed conditions are refused with a position", arguments: [
        "", "async.data.x ==", "(async.data.x == 1", "data.x == 1", "async.data.x == 'open", "async.data.x === 1", "async. == 1", "1 @ 2",
    ])
    func malformed(text: String) {
        #expect(throws: EventConditionError.self) { try EventCondition(text) }
    }

    @Test("waitForEvent with if: only an event that satisfies it resumes the run")
    func waitWithCondition() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "big-payment", trigger: .event("invoice/created")) { event, step in
            let paid = try await step.waitForEvent(
                "payment", event: "invoice/paid", timeout: .seconds(3600), match: "data.invoiceId",
                if: "async.data.amount >= event.data.total")
            return paid?.data["amount"] ?? "timed out"
        }
        try await harness.client.send(Event(name: "invoice/created", data: ["invoiceId": "i-1", "total": 500]))
        try await harness.worker.drain()
        try await harness.client.send(Event(name: "invoice/paid", data: ["invoiceId": "i-1", "amount": 200]))
        #expect(try await harness.onlyRun(of: "big-payment").status == .waiting, "a partial payment does not satisfy the condition")
        try await harness.client.send(Event(name: "invoice/paid", data: ["invoiceId": "i-1", "amount": 500]))
        try await harness.worker.drain()
        #expect(try await harness.onlyRun(of: "big-payment").output == 500)
    }

    @Test("cancelOn with if: cancels only when the condition holds")
    func cancelOnCondition() async throws {
        let harness = try Harness()
        try harness.client.createFunction(
            id: "dunning",
            trigger: .event("invoice/overdue"),
            options: .init(cancelOn: [.event("invoice/paid", if: "async.data.invoiceId == event.data.invoiceId && async.data.amount >= event.data.total")])
        ) { event, step in
            try await step.sleep("grace", for: .seconds(3600))
        }
        try await harness.client.send([
            Event(name: "invoice/overdue", data: ["invoiceId": "i-1", "total": 100]),
            Event(name: "invoice/overdue", data: ["invoiceId": "i-2", "total": 100]),
        ])
        try await harness.worker.drain()
        try await harness.client.send([
            Event(name: "invoice/paid", data: ["invoiceId": "i-1", "amount": 100]),
            Event(name: "invoice/paid", data: ["invoiceId": "i-2", "amount": 10]),
        ])
        try await harness.runUntilIdle()
        let runs = try await harness.runs(of: "dunning")
        #expect(Set(runs.map(\.status)) == [.cancelled, .completed])
    }

    @Test("createFunction refuses a cancelOn condition that does not parse")
    func invalidCancelOn() throws {
        let harness = try Harness()
        #expect(throws: FunctionDefinitionError.self) {
            try harness.client.createFunction(id: "x", trigger: .event("a"), options: .init(cancelOn: [.event("b", if: "data.x ==")])) { event, step in }
        }
    }
}
