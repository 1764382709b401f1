import InMemoryLogging
import Logging
import Testing
@testable import Stepwise
import StepwiseTesting

@Suite("StepwiseClient.invoke")
struct ClientInvokeTests {
    @Test("invoke starts a durable run of the function with the payload as its event's data, an invoke-only one too")
    func invokesWithPayload() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "greet", trigger: .invokeOnly) { event, step in
            try await step.run("hello") { "hello \(event.data["name"]?.stringValue ?? "nobody")" }
        }
        let run = try await harness.client.invoke("greet", data: ["name": "Ada"])
        #expect(run.status == .queued)
        #expect(run.functionID == "greet" && run.appID == "test-app")
        // Stored before invoke returned: read back through the store, not the value returned.
        #expect(try await harness.client.run(id: run.id)?.id == run.id)
        let event = try #require(try await harness.client.event(id: run.eventID))
        #expect(event.name == SystemEvent.functionInvoked)
        #expect(event.data == ["name": "Ada"])
        try await harness.runUntilIdle()
        let done = try #require(try await harness.client.run(id: run.id))
        #expect(done.status == .completed)
        #expect(done.output == "hello Ada")
        #expect(try await harness.runs(of: "greet").count == 1, "the invoked event starts no second run")
    }

    @Test("a client that does not hold the function invokes it for the app that registered it, as the CLI does")
    func invokesAnotherAppsFunction() async throws {
        let store = try freshTestStore()
        let worker = try Harness(store: store)
        try worker.client.createFunction(id: "charge", trigger: .event("order/placed")) { event, step in
            event.data["amount"]?.intValue ?? 0
        }
        try await worker.client.registerFunctions()
        let cli = StepwiseClient(id: "stepwise-cli", store: store, configuration: .init(clock: worker.clock))
        let run = try await cli.invoke("charge", data: ["amount": 42])
        #expect(run.appID == "test-app")
        try await worker.runUntilIdle()
        #expect(try await cli.run(id: run.id)?.output == 42)

        // Two apps with a function of one id: the caller names the app.
        let other = StepwiseClient(id: "other-app", store: store, configuration: .init(clock: worker.clock))
        try other.createFunction(id: "charge", trigger: .event("order/placed")) { _, _ in 0 }
        try await other.registerFunctions()
        await #expect { try await cli.invoke("charge") } throws: { error in
            (error as? InvokeError)?.isAmbiguous == true && "\(error)".contains("name the app")
        }
        #expect(try await cli.invoke("charge", app: "other-app").appID == "other-app")
    }

    @Test("invoking an unknown function or with data that is no object stores nothing, and says why")
    func refusals() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "greet", trigger: .event("never/sent")) { _, _ in 1 }
        await #expect { try await harness.client.invoke("missing") } throws: { error in
            (error as? InvokeError)?.functionID == "missing" && "\(error)".contains("no function 'missing'")
        }
        await #expect(throws: InvokeError.self) { try await harness.client.invoke("greet", app: "someone-else") }
        await #expect(throws: EventValidationError.self) { try await harness.client.invoke("greet", data: EventPayload(json: [1, 2])) }
        let big = JSON.string(String(repeating: "x", count: EventLimits().maxEventBytes))
        await #expect(throws: EventValidationError.self) { try await harness.client.invoke("greet", data: ["blob": big]) }
        #expect(try await harness.client.store.events(EventQuery(limit: 10)).events.isEmpty)
        #expect(try await harness.runs(of: "greet").isEmpty)
    }

    @Test("an invoke is logged with its run, function and event")
    func logged() async throws {
        var handler = InMemoryLogHandler()
        handler.logLevel = .info
        let logger = Logger(label: "app", factory: { _ in handler })
        let client = StepwiseClient(id: "test-app", store: try freshTestStore(), configuration: .init(clock: ManualClock()), logger: logger)
        try client.createFunction(id: "greet", trigger: .event("never/sent")) { _, _ in 1 }
        let run = try await client.invoke("greet")
        let entry = try #require(handler.entries.first { $0.message.description == "function invoked" })
        #expect(entry.metadata["stepwise.run"]?.description == run.id.description)
        #expect(entry.metadata["stepwise.function"]?.description == "greet")
    }

    @Test("environments lists what the store holds: the client's own and a branch's")
    func environments() async throws {
        let harness = try Harness()
        try await harness.client.send(Event(name: "a"))
        var branch = harness.client.configuration
        branch.environment = "feature-x"
        try await StepwiseClient(id: "test-app", store: harness.client.store, configuration: branch).send(Event(name: "a"))
        #expect(try await harness.client.environments() == ["default", "feature-x"])
    }
}
