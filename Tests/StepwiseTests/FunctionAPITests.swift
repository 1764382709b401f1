import Foundation
import Synchronization
import Testing
@testable import Stepwise
import StepwiseTesting

/// The shape of the user's API: one options value, typed events, typed invokes, invoke-only
/// functions, and `Date`s where users read and give times.
@Suite("Function API")
struct FunctionAPITests {
    struct CartCompleted: Codable, Sendable, Equatable {
        struct Item: Codable, Sendable, Equatable {
            let sku: String
            let quantity: Int
        }
        let cartId: String
        let items: [Item]
    }

    struct PriceRequest: Codable, Sendable {
        let sku: String
        let quantity: Int
    }

    struct Quote: Codable, Sendable, Equatable {
        let sku: String
        let total: Int
    }

    // MARK: - Options

    @Test("options are one value: the handle and the client's function carry it, and the engine uses it")
    func optionsValue() async throws {
        let harness = try Harness()
        let calls = Counter()
        let options = FunctionOptions(
            name: "Charge the card", retries: RetryPolicy(retries: 1, backoff: .constant(.seconds(1))),
            cancelOn: [.event("billing/invoice.voided", match: "data.invoiceId")], timeouts: FunctionTimeouts(finish: .seconds(600)))
        let handle = try harness.client.createFunction(id: "charge", trigger: .event("billing/invoice.due"), options: options) { _, _ in
            calls.hit("charge")
            throw PaymentDeclined(code: "try \(calls["charge"])")
        }
        #expect(handle.id == "charge")
        #expect(handle.options.name == "Charge the card")
        #expect(handle.options.retries == options.retries)
        #expect(handle.options.cancelOn == options.cancelOn)
        #expect(handle.options.timeouts == options.timeouts)
        let held = try #require(harness.client.functions.first { $0.id == "charge" })
        #expect(held.options.name == "Charge the card")
        #expect(held.triggers.map(\.description) == ["event billing/invoice.due"])
        #expect(!held.isInvokeOnly)

        try await harness.client.send(Event(name: "billing/invoice.due", data: ["invoiceId": "in_1"]))
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "charge")
        #expect(run.status == .failed)
        #expect(calls["charge"] == 2, "retries: 1 from the options gives two attempts")

        // The registration the store holds is built from the options as before.
        let registered = try #require(try await harness.client.store.functions(environment: "default").first { $0.id == "charge" })
        #expect(registered.cancelOn == options.cancelOn)
        #expect(registered.triggers == ["billing/invoice.due"])
    }

    @Test("default options: four retries, no cancelOn, no timeouts, no failure handler")
    func defaultOptions() {
        let options = FunctionOptions.default
        #expect(options.name == nil)
        #expect(options.retries == .default)
        #expect(options.cancelOn.isEmpty)
        #expect(options.timeouts == FunctionTimeouts())
        #expect(options.onFailure == nil)
    }

    @Test("the failure handler comes from the options and runs as <id>-failure")
    func onFailureFromOptions() async throws {
        let harness = try Harness()
        let seen = Mutex<[String]>([])
        try harness.client.createFunction(
            id: "doomed", trigger: .event("doom"),
            options: .init(retries: RetryPolicy(retries: 0), onFailure: { event, step in
                try await step.perform("note") { seen.withLock { $0.append(event.name) } }
            })
        ) { _, _ in
            throw NonRetriableError("no")
        }
        #expect(harness.client.functions.map(\.id) == ["doomed", "doomed-failure"])
        try await harness.client.send(Event(name: "doom"))
        try await harness.runUntilIdle()
        #expect(seen.withLock { $0 } == [SystemEvent.functionFailed])
    }

    @Test("several triggers in one call")
    func severalTriggers() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "audit", trigger: .event("user/created"), .event("user/deleted")) { event, _ in
            event.name
        }
        try await harness.client.send([Event(name: "user/created"), Event(name: "user/deleted")])
        try await harness.runUntilIdle()
        let outputs = try await harness.runs(of: "audit").compactMap { $0.output?.stringValue }
        #expect(Set(outputs) == ["user/created", "user/deleted"])
    }

    // MARK: - step.perform

    @Test("step.perform runs a body that returns nothing once, and step.run keeps a one-expression value")
    func performAndOneExpressionRun() async throws {
        let harness = try Harness()
        let calls = Counter()
        let price = 21
        try harness.client.createFunction(id: "mixed", trigger: .event("go"), options: .init(retries: fastRetries)) { _, step in
            try await step.perform("side-effect") { calls.hit("side-effect") }
            let doubled = try await step.run("double") { price * 2 }
            if calls["fail"] == 0 {
                calls.hit("fail")
                throw PaymentDeclined(code: "once")
            }
            return doubled
        }
        try await harness.client.send(Event(name: "go"))
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "mixed")
        #expect(run.output == 42)
        #expect(calls["side-effect"] == 1, "replay does not run the body again")
        let steps = try await harness.client.steps(ofRun: run.id)
        #expect(steps.first { $0.key == "double" }?.output == 42, "the value is recorded, not null")
        #expect(steps.first { $0.key == "side-effect" }?.output == .null)
    }

    // MARK: - Typed events

    @Test("a function declared with eventData receives its data decoded")
    func typedEvent() async throws {
        let harness = try Harness()
        let seen = Mutex<[CartCompleted]>([])
        let handle = try harness.client.createFunction(
            id: "receipt", trigger: .event("storefront/cart.checkout.completed"), eventData: CartCompleted.self
        ) { event, _ in
            seen.withLock { $0.append(event.data) }
            #expect(event.name == "storefront/cart.checkout.completed")
            #expect(event.stored.data["cartId"] == "c-1")
            return event.data.items.map(\.quantity).reduce(0, +)
        }
        let _: FunctionHandle<CartCompleted, Int> = handle
        try await harness.client.send(Event(
            name: "storefront/cart.checkout.completed",
            data: CartCompleted(cartId: "c-1", items: [.init(sku: "a", quantity: 2), .init(sku: "b", quantity: 3)])))
        try await harness.runUntilIdle()
        #expect(try await harness.onlyRun(of: "receipt").output == 5)
        #expect(seen.withLock { $0.map(\.cartId) } == ["c-1"])
    }

    @Test(
        "data that does not decode fails the run at once, without retries, naming the field",
        arguments: [
            (["items": []] as JSON, "data.cartId"),
            (["cartId": "c-1", "items": [["sku": "a", "quantity": 1], ["sku": 7, "quantity": 1]]] as JSON, "data.items[1].sku"),
            (["cartId": "c-1", "items": [["sku": "a"]]] as JSON, "data.items[0].quantity"),
        ])
    func typedEventFailure(data: JSON, field: String) async throws {
        let harness = try Harness()
        let calls = Counter()
        try harness.client.createFunction(
            id: "receipt", trigger: .event("storefront/cart.checkout.completed"), eventData: CartCompleted.self,
            options: .init(retries: fastRetries)
        ) { _, _ in
            calls.hit("body")
        }
        try await harness.client.send(Event(name: "storefront/cart.checkout.completed", data: data))
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "receipt")
        #expect(run.status == .failed)
        #expect(run.attempt == 1, "no retries: the same data would fail again")
        #expect(calls["body"] == 0, "the function's code never runs")
        let message = try #require(run.error?.message)
        #expect(message.contains("field \(field)"), "\(message)")
        #expect(message.contains("CartCompleted"))
    }

    // MARK: - Typed invoke

    @Test("invoke through a handle takes the function's data type and returns its output type")
    func typedInvoke() async throws {
        let harness = try Harness()
        let logged = Mutex<[String]>([])
        let price = try harness.client.createFunction(id: "price", trigger: .invokeOnly, eventData: PriceRequest.self) { event, _ in
            Quote(sku: event.data.sku, total: event.data.quantity * 250)
        }
        let log = try harness.client.createFunction(id: "log", trigger: .invokeOnly, eventData: Quote.self) { event, _ in
            logged.withLock { $0.append(event.data.sku) }
        }
        let _: FunctionHandle<Quote, Void> = log
        try harness.client.createFunction(id: "checkout", trigger: .event("storefront/cart.checkout.completed")) { _, step in
            let quote = try await step.invoke("price", price, data: PriceRequest(sku: "s-1", quantity: 3))
            try await step.invoke("log", log, data: quote)
            return quote
        }
        try await harness.client.send(Event(name: "storefront/cart.checkout.completed"))
        try await harness.runUntilIdle()
        let checkout = try await harness.onlyRun(of: "checkout")
        #expect(checkout.status == .completed)
        #expect(try checkout.output?.decode(as: Quote.self) == Quote(sku: "s-1", total: 750))
        #expect(logged.withLock { $0 } == ["s-1"])
    }

    // MARK: - Invoke-only functions

    @Test("an invoke-only function has no trigger, is registered, and its invoked runs are claimed")
    func invokeOnly() async throws {
        let harness = try Harness()
        let calls = Counter()
        let helper = try harness.client.createFunction(id: "helper", trigger: .invokeOnly) { event, _ in
            calls.hit("helper")
            return event.data["n"]?.intValue ?? 0
        }
        #expect(helper.function.isInvokeOnly)
        #expect(helper.function.triggers.isEmpty)
        try harness.client.createFunction(id: "caller", trigger: .event("go")) { _, step in
            try await step.invoke("call", helper, data: ["n": 7]) + 1
        }
        try await harness.client.registerFunctions()
        let registered = try await harness.client.store.functions(environment: "default")
        let helperRecord = try #require(registered.first { $0.id == "helper" })
        #expect(helperRecord.triggers.isEmpty)
        #expect(helperRecord.schedules.isEmpty)

        // No event starts it, not even one named like it.
        try await harness.client.send([Event(name: "helper"), Event(name: "go")])
        try await harness.runUntilIdle()
        #expect(try await harness.onlyRun(of: "caller").output == 8)
        let helperRun = try await harness.onlyRun(of: "helper")
        #expect(helperRun.status == .completed)
        #expect(calls["helper"] == 1)
    }

    @Test("a function without triggers is refused unless it says invokeOnly, which stands alone")
    func invokeOnlyIsExplicit() throws {
        let client = try makeClient()
        #expect(throws: FunctionDefinitionError.self) {
            try client.createFunction(id: "forgotten") { _, _ in }
        }
        #expect(throws: FunctionDefinitionError.self) {
            try client.createFunction(id: "both", trigger: .invokeOnly, .event("x")) { _, _ in }
        }
        #expect(client.functions.isEmpty)
    }

    // MARK: - Dates

    @Test("sleepUntil takes a Date: a future one sets the run aside until then, a past one goes straight on")
    func sleepUntilDate() async throws {
        let harness = try Harness()
        let start = harness.clock.now()
        try harness.client.createFunction(id: "alarm", trigger: .event("alarm")) { _, step in
            try await step.sleepUntil("past", until: Date(milliseconds: start - 60_000))
            try await step.sleepUntil("future", until: Date(milliseconds: start + 90_000).addingTimeInterval(0.0004))
        }
        try await harness.client.send(Event(name: "alarm"))
        #expect(try await harness.worker.drain() == start + 90_000, "kept to the millisecond, rounded down")
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "alarm")
        #expect(run.status == .completed)
        let steps = try await harness.client.steps(ofRun: run.id)
        #expect(steps.map(\.untilDate) == [Date(milliseconds: start - 60_000), Date(milliseconds: start + 90_000)])
    }

    @Test("records and queries show Dates; the milliseconds stay what the store keeps")
    func recordDates() async throws {
        let harness = try Harness()
        let start = harness.clock.now()
        try harness.client.createFunction(id: "noop", trigger: .event("tick")) { _, _ in }
        var early = Event(name: "tick")
        early.timestamp = Date(milliseconds: start - 1_000)
        #expect(early.ts == start - 1_000, "the Date view and the wire field are one")
        #expect(harness.clock.date == Date(milliseconds: start))
        let first = try await harness.client.send(early)
        harness.clock.advance(by: .seconds(10))
        let second = try await harness.client.send(Event(name: "tick"))
        try await harness.runUntilIdle()

        let stored = try #require(try await harness.client.event(id: first))
        #expect(stored.timestamp == Date(milliseconds: start - 1_000))
        #expect(stored.receivedDate == Date(milliseconds: start))

        let window = try await harness.client.events(
            named: "tick", since: Date(milliseconds: start + 5_000), until: Date(milliseconds: start + 20_000))
        #expect(window.events.map(\.id) == [second])
        var query = EventQuery(since: Date(milliseconds: start))
        #expect(query.since == start)
        query.untilDate = Date(milliseconds: start + 1)
        #expect(query.until == start + 1)
        #expect(query.untilDate == Date(milliseconds: start + 1))

        let run = try #require(try await harness.runs(of: "noop").first { $0.eventID == first })
        #expect(run.creationDate == Date(milliseconds: start))
        #expect(run.startDate.map { $0 >= run.creationDate } == true)
        #expect(run.endDate != nil)
    }
}
