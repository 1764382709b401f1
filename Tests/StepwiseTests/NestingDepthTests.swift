import Testing
@_spi(StoreImplementation) @testable import Stepwise
import StepwiseTesting

/// An object `depth` levels deep: `{"inner": {"inner": … {}}}`.
func nestedObject(depth: Int) -> JSON {
    var value = JSON.emptyObject
    for _ in 1..<depth { value = ["inner": value] }
    return value
}

/// The same shape as a `Codable` type: each level one `Nest`.
final class Nest: Codable, Sendable {
    let inner: Nest?
    init(inner: Nest?) { self.inner = inner }

    static func nested(depth: Int) -> Nest {
        var value = Nest(inner: nil)
        for _ in 1..<depth { value = Nest(inner: value) }
        return value
    }
}

@Suite("Nesting depth at every boundary")
struct NestingDepthTests {
    let limit = JSON.maximumPayloadNestingDepth

    @Test("send refuses data and user nested past the limit, literal or Codable alike, naming index and field",
          arguments: [241, 257, 300])
    func sendRefusesTooDeep(depth: Int) async throws {
        let good = Event(name: "a", data: ["ok": true])
        let tooDeep = EventValidationError(index: 1, field: .data, problem: .nestedTooDeeply(limit: limit))
        for event in [Event(name: "a", data: nestedObject(depth: depth)), Event(name: "a", data: Nest.nested(depth: depth))] {
            let client = try makeClient()
            await #expect(throws: tooDeep) { try await client.send([good, event]) }
            #expect(try await allEvents(client.store).isEmpty)
        }
        let client = try makeClient()
        await #expect(throws: EventValidationError(index: 0, field: .user, problem: .nestedTooDeeply(limit: limit))) {
            try await client.send([Event(name: "a", user: EventPayload(json: nestedObject(depth: depth)))])
        }
        await #expect(throws: EventValidationError(index: 0, field: .user, problem: .nestedTooDeeply(limit: limit))) {
            try await client.send([Event(name: "a", user: EventPayload(Nest.nested(depth: depth)))])
        }
    }

    @Test("send accepts the limit itself, literal or Codable alike")
    func sendAcceptsLimit() async throws {
        let client = try makeClient()
        let ids = try await client.send([
            Event(name: "a", data: nestedObject(depth: limit)), Event(name: "a", data: Nest.nested(depth: limit)),
        ])
        #expect(try await client.event(id: ids[0])?.data.nestingDepth == limit)
        #expect(try await client.event(id: ids[1])?.data.nestingDepth == limit)
    }

    @Test("step.sendEvent refuses an event nested past the limit: the step fails, nothing is sent")
    func sendEventRefusesTooDeep() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "forward", trigger: .event("in")) { event, step in
            try await step.sendEvent("out", Event(name: "out", data: nestedObject(depth: 241)))
        }
        try await harness.client.send(Event(name: "in"))
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "forward")
        #expect(run.status == .failed)
        #expect(run.error?.message.contains("deeper than the limit of 240 levels") == true)
        #expect(try await allEvents(harness.client.store).filter { $0.name == "out" }.isEmpty)
    }

    @Test("a step result nested past the limit fails the step, literal or Codable alike")
    func stepResultTooDeep() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "literal", trigger: .event("go"), options: .init(retries: fastRetries)) { event, step in
            try await step.run("deep") { nestedObject(depth: 241) }
        }
        try harness.client.createFunction(id: "codable", trigger: .event("go"), options: .init(retries: fastRetries)) { event, step in
            _ = try await step.run("deep") { Nest.nested(depth: 300) }
        }
        try await harness.client.send(Event(name: "go"))
        try await harness.runUntilIdle()
        for function in ["literal", "codable"] {
            let run = try await harness.onlyRun(of: function)
            #expect(run.status == .failed, "\(function)")
            #expect(run.attempt == 1, "not retried: the same result would be refused again")
            let step = try #require(try await harness.client.steps(ofRun: run.id).first)
            #expect(step.status == .failed)
            #expect(step.error?.message.contains("deeper than the limit of 240 levels") == true, "\(step.error?.message ?? "")")
        }
    }

    @Test("a function output nested past the limit fails the run")
    func outputTooDeep() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "deep", trigger: .event("go")) { event, step in nestedObject(depth: 241) }
        try await harness.client.send(Event(name: "go"))
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "deep")
        #expect(run.status == .failed)
        #expect(run.error?.message.contains("deeper than the limit of 240 levels") == true)
    }

    @Test("step.invoke refuses data nested past the limit: the invoking run fails, nothing is invoked")
    func invokeDataTooDeep() async throws {
        let harness = try Harness()
        let echo = try harness.client.createFunction(id: "echo", trigger: .event("never")) { event, step in event.data }
        try harness.client.createFunction(id: "caller", trigger: .event("go")) { event, step in
            try await step.invoke("call", function: echo.function, data: EventPayload(json: nestedObject(depth: 241)), as: JSON.self)
        }
        try await harness.client.send(Event(name: "go"))
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "caller")
        #expect(run.status == .failed)
        #expect(run.error?.message.contains("deeper than the limit of 240 levels") == true, "\(run.error?.message ?? "")")
        #expect(try await harness.runs(of: "echo").isEmpty)
    }

    @Test("an event at the limit finishes and fails readably: its system events wrap it and still read back")
    func systemEventsOfDeepEvent() async throws {
        let harness = try Harness()
        let failures = Counter()
        try harness.client.createFunction(id: "echo", trigger: .event("deep")) { event, step in event.data }
        try harness.client.createFunction(
            id: "fails",
            trigger: .event("deep"),
            options: .init(retries: RetryPolicy(retries: 0), onFailure: { event, step in failures.hit("onFailure") })
        ) { event, step in
            throw NonRetriableError("no")
        }
        try await harness.client.send(Event(name: "deep", data: nestedObject(depth: limit)))
        try await harness.runUntilIdle()
        #expect(try await harness.onlyRun(of: "echo").status == .completed)
        #expect(failures["onFailure"] == 1)
        let page = try await harness.client.events(limit: 100)
        #expect(page.unreadable.isEmpty)
        let finished = try #require(page.events.first { $0.name == SystemEvent.functionFinished && $0.data["function_id"] == "echo" })
        #expect(finished.data["event"]?["data"]?.nestingDepth == limit)
    }

    @Test("a system event's summary leaves out a payload it could not hold, and says so")
    func summaryOmitsTooDeepPayload() throws {
        let deep = StoredEvent(
            id: EventID(ULID(milliseconds: 1, random: 0, 0)), environment: "default", name: "x", data: nestedObject(depth: 254),
            user: nestedObject(depth: 2), dedupeID: nil, ts: 1, v: nil, receivedAt: 1)
        let summary = SystemEvent.eventSummary(deep)
        #expect(summary["data"] == .emptyObject)
        #expect(summary["omitted"] == ["data"])
        #expect(summary["user"] == nestedObject(depth: 2))
        let fits = StoredEvent(
            id: deep.id, environment: "default", name: "x", data: nestedObject(depth: 253), user: nil, dedupeID: nil, ts: 1, v: nil,
            receivedAt: 1)
        #expect(SystemEvent.eventSummary(fits)["data"]?.nestingDepth == 253)
        #expect(JSON.object(["event": SystemEvent.eventSummary(deep)]).nestingDepth <= JSON.maximumSystemEventNestingDepth)
    }

    @Test("depth is measured the same by the walk, the serializer and the parser")
    func depthMeasures() throws {
        for value: JSON in [1, [], [:], [[1, [2]]], ["a": ["b": [:]], "c": 1], nestedObject(depth: 30)] {
            let (text, depth) = value.serializedMeasuringDepth()
            #expect(depth == value.nestingDepth, "\(value)")
            let parsed = try Array(text.utf8).withUnsafeBufferPointer { try JSON.parseMeasuringDepth($0) }
            #expect(parsed.depth == depth, "\(value)")
        }
    }
}
