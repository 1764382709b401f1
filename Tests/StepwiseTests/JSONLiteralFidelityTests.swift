import Testing
@testable import Stepwise
import StepwiseTesting

@Suite("Literals keep their order and their numbers")
struct JSONLiteralFidelityTests {
    @Test("a dictionary literal of one value type keeps its key order and its numbers in event data")
    func homogeneousLiteral() async throws {
        let ordered = Event(name: "a", data: ["zeta": 1, "alpha": 2])
        #expect(try ordered.data.json().serialized == #"{"zeta":1,"alpha":2}"#)
        let numbers = Event(name: "a", data: ["amount": 10.0, "negzero": -0.0])
        #expect(try numbers.data.json().serialized == #"{"amount":10.0,"negzero":-0.0}"#)

        let client = try makeClient()
        let ids = try await client.send([ordered, numbers])
        #expect(try await client.event(id: ids[0])?.data.serialized == #"{"zeta":1,"alpha":2}"#)
        let stored = try #require(try await client.event(id: ids[1])?.data)
        #expect(stored.serialized == #"{"amount":10.0,"negzero":-0.0}"#)
        #expect(stored["negzero"]?.doubleValue?.sign == .minus)
    }

    @Test("step.sendEvent's literal events keep order and numbers; a Codable Double keeps negative zero")
    func sendEventAndStepResults() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "f", trigger: .event("go")) { event, step in
            try await step.sendEvent("out", Event(name: "out", data: ["zeta": 1.5, "alpha": 10.0]))
            let zero = try await step.run("zero") { -0.0 }
            #expect(zero.sign == .minus, "the first run returns the recorded -0.0, read back")
            return try await step.run("ordered") { () -> JSON in ["zeta": 1, "alpha": 2] }
        }
        try await harness.client.send(Event(name: "go"))
        try await harness.runUntilIdle()
        let out = try #require(try await allEvents(harness.client.store).first { $0.name == "out" })
        #expect(out.data.serialized == #"{"zeta":1.5,"alpha":10.0}"#)
        let run = try await harness.onlyRun(of: "f")
        #expect(run.output?.serialized == #"{"zeta":1,"alpha":2}"#)
        let steps = try await harness.client.steps(ofRun: run.id)
        #expect(steps.map { $0.output?.serialized } == [#"{"ids":[""# + out.id.description + #""]}"#, "-0.0", #"{"zeta":1,"alpha":2}"#])
    }
}
