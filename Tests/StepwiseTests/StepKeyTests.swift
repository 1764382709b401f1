import Testing
@testable import Stepwise
import StepwiseTesting

@Suite("Step keys")
struct StepKeyTests {
    @Test("a step id that looks like a repeat's key is its own step, and the repeat runs its body")
    func idLikeAGeneratedKey() async throws {
        let harness = try Harness()
        let calls = Counter()
        try harness.client.createFunction(id: "mailer", trigger: .event("newsletter/send")) { event, step in
            let first = try await step.run("email") { calls.hit("email"); return "first" }
            let user = try await step.run("email:1") { calls.hit("email:1"); return "user's own" }
            let repeated = try await step.run("email") { calls.hit("email"); return "repeat" }
            return [first, user, repeated]
        }
        try await harness.client.send(Event(name: "newsletter/send"))
        try await harness.runUntilIdle()

        let run = try await harness.onlyRun(of: "mailer")
        #expect(run.status == .completed)
        #expect(run.output == ["first", "user's own", "repeat"])
        #expect(calls["email"] == 2)
        #expect(calls["email:1"] == 1)
        let steps = try await harness.client.steps(ofRun: run.id)
        #expect(Set(steps.map(\.key)).count == 3, "three steps, three rows")
    }

    @Test("step.sendEvent under an id that looks like a repeat's key sends every event")
    func sendEventIDLikeAGeneratedKey() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "notifier", trigger: .event("order/placed")) { event, step in
            let a = try await step.sendEvent("notify", Event(name: "order/notified", data: ["n": 1]))
            let b = try await step.sendEvent("notify:1", Event(name: "order/notified", data: ["n": 2]))
            let c = try await step.sendEvent("notify", Event(name: "order/notified", data: ["n": 3]))
            return [a.description, b.description, c.description]
        }
        try await harness.client.send(Event(name: "order/placed"))
        try await harness.runUntilIdle()

        let run = try await harness.onlyRun(of: "notifier")
        #expect(run.status == .completed)
        let sent = try await allEvents(harness.client.store).filter { $0.name == "order/notified" }
        #expect(sent.map { $0.data["n"] } == [1, 2, 3])
        #expect(run.output == .array(sent.map { .string($0.id.description) }), "each call answers its own event's id")
    }

    @Test("a step id with a control character fails the run, naming the character")
    func controlCharacterInStepID() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "bad", trigger: .event("bad")) { event, step in
            try await step.run("email\u{1F}1") { 1 }
        }
        try await harness.client.send(Event(name: "bad"))
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "bad")
        #expect(run.status == .failed)
        #expect(run.error?.message.contains("U+001F") == true)
    }

    @Test("a run recorded under the old `id:n` keys replays without running its bodies again")
    func legacyKeysReplay() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let harness = try Harness(store: store)
        let calls = Counter()
        try harness.client.createFunction(id: "mailer", trigger: .event("newsletter/send")) { event, step in
            var sent: [Int] = []
            for n in 0..<3 {
                sent.append(try await step.run("email") { calls.hit("email"); return n })
            }
            try await step.sleep("pause", for: .seconds(60))
            return sent
        }
        try await harness.client.send(Event(name: "newsletter/send"))
        try await harness.worker.drain()
        #expect(calls["email"] == 3)
        // Rewrite the repeats' keys as the scheme before this one wrote them.
        _ = try await store.writer.write { connection in
            try connection.run("UPDATE steps SET key = step_id || ':' || substr(key, length(step_id) + 2) WHERE key <> step_id")
        }
        let legacy = try await store.steps(runID: try await harness.onlyRun(of: "mailer").id).map(\.key)
        #expect(legacy == ["email", "email:1", "email:2", "pause"])

        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "mailer")
        #expect(run.status == .completed)
        #expect(run.output == [0, 1, 2])
        #expect(calls["email"] == 3, "the repeats were found under their old keys")
    }
}
