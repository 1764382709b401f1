@_spi(StoreImplementation) @testable import Stepwise
import Testing

/// The decisions the engine makes for every store, tested without one.
@Suite("Engine decisions")
struct EngineDecisionTests {
    private func event(_ name: String, data: JSON = [:], receivedAt: Int64 = 1_800_000_000_000) -> StoredEvent {
        StoredEvent(
            id: EventID(ULIDGenerator.shared.next(milliseconds: receivedAt)), environment: "default", name: name, data: data, user: nil,
            dedupeID: nil, ts: receivedAt, v: nil, receivedAt: receivedAt)
    }

    private func trigger(_ function: String, _ pattern: String, conditions: [String: JSON] = [:]) -> RegisteredTrigger {
        RegisteredTrigger(
            appID: "app", functionID: function, trigger: TriggerRegistration(pattern: EventPattern(pattern), conditions: conditions),
            settings: FunctionSettings())
    }

    @Test("triggers match exact names and prefixes, each function once, with their conditions")
    func triggerMatching() {
        let index = TriggerIndex([
            trigger("exact", "shop/order.placed"), trigger("prefix", "shop/*"), trigger("twice", "shop/order.placed"),
            trigger("twice", "shop/*"), trigger("big", "shop/order.placed", conditions: ["data.total": 100]),
        ])
        let small = index.targets(for: event("shop/order.placed", data: ["total": 5])).map(\.functionID)
        #expect(small.sorted() == ["exact", "prefix", "twice"])
        let big = index.targets(for: event("shop/order.placed", data: ["total": 100])).map(\.functionID)
        #expect(big.sorted() == ["big", "exact", "prefix", "twice"])
        #expect(index.targets(for: event("shop/cart.viewed")).map(\.functionID).sorted() == ["prefix", "twice"])
        #expect(index.targets(for: event("shopping/x")).isEmpty)
    }

    @Test("event names are matched by their bytes, as waits and dedupe ids are: é and e + U+0301 are two names")
    func triggerNamesAreBytes() {
        let precomposed = "caf\u{E9}/opened"
        let decomposed = "cafe\u{301}/opened"
        #expect(precomposed == decomposed, "Swift holds them equal")
        let index = TriggerIndex([trigger("f", precomposed), trigger("p", "caf\u{E9}/*")])
        #expect(index.targets(for: event(precomposed)).map(\.functionID).sorted() == ["f", "p"])
        #expect(index.targets(for: event(decomposed)).isEmpty)
    }

    @Test("a system event about a function never starts that same function")
    func noSelfTrigger() {
        let index = TriggerIndex([trigger("watcher", "stepwise/*")])
        #expect(index.targets(for: event("stepwise/function.finished", data: ["function_id": "watcher", "app_id": "app"])).isEmpty)
        #expect(index.targets(for: event("stepwise/function.finished", data: ["function_id": "other", "app_id": "app"])).count == 1)
    }

    @Test("one retry rule for steps and functions: final errors, the last attempt, and delays")
    func retryDecision() {
        let policy = RetryPolicy(retries: 2, backoff: .constant(.seconds(3)))
        struct Boom: Error {}
        #expect(policy.decision(after: Boom(), failures: 1) == .retry(afterMilliseconds: 3000))
        #expect(policy.decision(after: Boom(), failures: 2) == .retry(afterMilliseconds: 3000))
        #expect(policy.decision(after: Boom(), failures: 3) == .fail)
        #expect(policy.decision(after: NonRetriableError("no"), failures: 1) == .fail)
        #expect(policy.decision(after: StepError(stepID: "s", error: ErrorRecord(name: "E", message: "m")), failures: 1) == .fail)
        #expect(policy.decision(after: RetryAfterError("later", delay: .seconds(9)), failures: 1) == .retry(afterMilliseconds: 9000))
    }

    @Test("a wait's condition decides, a cancellation counts only within its timeout, and a resumed step gets the event")
    func waitResolution() {
        let incoming = event("pay/done", data: ["amount": 50], receivedAt: 2000)
        let run = RunID(ULIDGenerator.shared.next(milliseconds: 1))
        let resolutions = WaitMatching.resolutions(for: incoming, candidates: [
            WaitCandidate(runID: run, stepKey: "small", kind: .step, expiresAt: 9000, condition: "async.data.amount < 10"),
            WaitCandidate(runID: run, stepKey: "big", kind: .step, expiresAt: 9000, condition: "async.data.amount >= 10"),
            WaitCandidate(runID: run, stepKey: "cancelOn:0", kind: .cancel, expiresAt: 1999, condition: nil),
            WaitCandidate(runID: run, stepKey: "cancelOn:1", kind: .cancel, expiresAt: 2000, condition: nil),
            WaitCandidate(runID: run, stepKey: "broken", kind: .step, expiresAt: 9000, condition: "((("),
        ])
        #expect(resolutions == [
            .resumeStep(runID: run, stepKey: "big", output: StoredEvent.encodedForStep(incoming)), .cancelRun(runID: run),
        ])
        #expect(WaitMatching.indexedValue(of: incoming, atPath: "data.amount") == "50")
        #expect(WaitMatching.indexedValue(of: incoming, atPath: "data.missing") == "null")
    }

    @Test("a run starts at its event's future ts, with a wait for each cancelOn bound to its event")
    func runPlans() throws {
        var triggering = event("cart/abandoned", data: ["cart": "c1"], receivedAt: 1000)
        triggering = StoredEvent(
            id: triggering.id, environment: "default", name: triggering.name, data: triggering.data, user: nil, dedupeID: nil, ts: 5000,
            v: nil, receivedAt: 1000)
        let settings = FunctionSettings(cancelOn: [.event("cart/paid", match: "data.cart", timeout: .seconds(1))])
        let run = NewRun.triggered(
            id: RunID(ULIDGenerator.shared.next(milliseconds: 1000)), appID: "app", functionID: "remind", settings: settings, by: triggering)
        #expect(run.availableAt == 5000 && run.createdAt == 1000)
        let wait = try #require(run.waits.first)
        #expect(wait.kind == .cancel && wait.eventName == "cart/paid" && wait.matchPath == "data.cart" && wait.matchValue == "c1")
        #expect(wait.expiresAt == 2000)
    }

    @Test("settings keep what they know and ignore what a newer version added")
    func settingsRoundTrip() throws {
        let settings = FunctionSettings(name: "Send reminder", cancelOn: [.event("a", match: "data.x", if: "event.data.y == 1")])
        #expect(FunctionSettings(json: settings.json) == settings)
        var newer = try #require(settings.json.objectValue)
        newer["concurrency"] = ["limit": 3]
        #expect(FunctionSettings(json: .object(newer)) == settings)
    }
}
