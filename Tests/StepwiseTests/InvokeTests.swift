import Synchronization
import Testing
@testable import Stepwise
import StepwiseTesting

@Suite("step.invoke")
struct InvokeTests {
    struct Quote: Codable, Equatable, Sendable {
        let sku: String
        let price: Double
    }

    @Test("invoke runs another function once and returns its typed output")
    func typedOutput() async throws {
        let harness = try Harness()
        let calls = Counter()
        let pricing = try harness.client.createFunction(id: "price-item", trigger: .event("pricing/requested")) { event, step in
            try await step.run("look-up") { () -> Quote in
                calls.hit("pricing")
                return Quote(sku: event.data["sku"]?.stringValue ?? "?", price: 9.5)
            }
        }
        try harness.client.createFunction(id: "checkout", trigger: .event("storefront/cart.checkout.completed")) { event, step in
            let quote = try await step.invoke("price", pricing, data: ["sku": "9f08sdh84"])
            return try await step.run("total") { quote.price * 2 }
        }
        try await harness.client.send(Event(name: "storefront/cart.checkout.completed"))
        try await harness.runUntilIdle()
        let checkout = try await harness.onlyRun(of: "checkout")
        #expect(checkout.status == .completed)
        #expect(checkout.output == 19.0)
        #expect(calls["pricing"] == 1)
        let invoked = try await harness.onlyRun(of: "price-item")
        #expect(invoked.status == .completed)
        let invokedEvent = try #require(try await harness.client.event(id: invoked.eventID))
        #expect(invokedEvent.name == SystemEvent.functionInvoked)
        #expect(invokedEvent.data == ["sku": "9f08sdh84"])
        let step = try #require(try await harness.client.steps(ofRun: checkout.id).first { $0.key == "price" })
        #expect(step.kind == .invoke)
        #expect(step.status == .completed)
    }

    @Test("invoking a function that fails throws its error as a StepError")
    func failingFunction() async throws {
        let harness = try Harness()
        let failing = try harness.client.createFunction(id: "always-declines", trigger: .event("never/sent")) { event, step in
            throw NonRetriableError("declined", cause: PaymentDeclined(code: "stolen_card"))
        }
        let caught = Mutex<[StepError]>([])
        try harness.client.createFunction(id: "caller", trigger: .event("go")) { event, step in
            do {
                let _: Int = try await step.invoke("charge", function: failing.function)
                return "unexpected"
            } catch let error as StepError {
                caught.withLock { $0.append(error) }
                return "caught"
            }
        }
        try await harness.client.send(Event(name: "go"))
        try await harness.runUntilIdle()
        #expect(try await harness.onlyRun(of: "caller").output == "caught")
        let error = try #require(caught.withLock { $0.last })
        #expect(error.stepID == "charge")
        #expect(error.error.name == "StepwiseTests.PaymentDeclined")
        #expect(error.error.message == "declined: card declined (stolen_card)")
    }

    @Test("an invoke that does not finish in time throws a timeout")
    func timeout() async throws {
        let harness = try Harness()
        let slow = try harness.client.createFunction(id: "slow", trigger: .event("never/sent")) { event, step in
            try await step.sleep("long", for: .seconds(3600))
        }
        let caught = Mutex<[StepError]>([])
        try harness.client.createFunction(id: "impatient", trigger: .event("go")) { event, step in
            do {
                let _: JSON = try await step.invoke("wait-for-slow", function: slow.function, timeout: .seconds(60))
            } catch let error as StepError {
                caught.withLock { $0.append(error) }
            }
        }
        try await harness.client.send(Event(name: "go"))
        try await harness.runUntilIdle()
        #expect(caught.withLock { $0.first?.error.name } == "Stepwise.InvokeTimeout")
        #expect(try await harness.onlyRun(of: "impatient").status == .completed)
        #expect(try await harness.onlyRun(of: "slow").status == .completed, "the invoked run itself goes on")
    }

    @Test("cancelling an invoked run fails the invoking step")
    func cancelledInvocation() async throws {
        let harness = try Harness()
        let slow = try harness.client.createFunction(id: "slow", trigger: .event("never/sent")) { event, step in
            try await step.sleep("long", for: .seconds(3600))
        }
        try harness.client.createFunction(id: "caller", trigger: .event("go")) { event, step in
            do {
                let _: JSON = try await step.invoke("call", function: slow.function)
                return "finished"
            } catch let error as StepError {
                return error.error.name
            }
        }
        try await harness.client.send(Event(name: "go"))
        try await harness.worker.drain()
        let invoked = try await harness.onlyRun(of: "slow")
        #expect(try await harness.onlyRun(of: "caller").status == .waiting)
        try await harness.client.cancelRun(invoked.id)
        try await harness.worker.drain()
        #expect(try await harness.onlyRun(of: "caller").output == "Stepwise.InvokeCancelled")
    }
}
