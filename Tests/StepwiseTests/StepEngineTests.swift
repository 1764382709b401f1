import Synchronization
import Testing
@testable import Stepwise
import StepwiseTesting

/// Counts calls from inside step bodies, which run on any thread.
final class Counter: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    func hit(_ name: String) { counts.withLock { $0[name, default: 0] += 1 } }
    subscript(_ name: String) -> Int { counts.withLock { $0[name, default: 0] } }
}

struct Receipt: Codable, Equatable, Sendable {
    let cartId: String
    let total: Double
    let lines: [String]
}

struct PaymentDeclined: Error, CustomStringConvertible {
    let code: String
    var description: String { "card declined (\(code))" }
}

/// A client on a private in-memory store with a manual clock, and a worker for it.
struct Harness {
    let clock = ManualClock()
    let client: StepwiseClient
    let worker: Worker

    init(store: (any Store)? = nil, userEncryption: UserEncryption = .plaintext) throws {
        let store = try store ?? freshTestStore()
        client = StepwiseClient(id: "test-app", store: store, configuration: .init(clock: clock, userEncryption: userEncryption))
        worker = client.worker(.init(concurrency: 8))
    }

    func runUntilIdle() async throws {
        try await worker.runUntilIdle(advancing: clock)
    }

    func runs(of function: String) async throws -> [RunRecord] {
        try await client.store.runs(RunQuery(functionID: function, limit: 1000))
    }

    func onlyRun(of function: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> RunRecord {
        let runs = try await runs(of: function)
        try #require(runs.count == 1, "expected one run of \(function), found \(runs.count)", sourceLocation: sourceLocation)
        return runs[0]
    }
}

let fastRetries = RetryPolicy(retries: 4, backoff: .exponential(base: .seconds(1), maximum: .seconds(60)))

@Suite("Step engine")
struct StepEngineTests {
    @Test("replay returns recorded results without running bodies again")
    func replayIsMemoized() async throws {
        let harness = try Harness()
        let calls = Counter()
        try harness.client.createFunction(id: "checkout", trigger: .event("storefront/cart.checkout.completed"), options: .init(retries: fastRetries)) { event, step in
            let first = try await step.run("first") { calls.hit("first"); return 1 }
            let second = try await step.run("second") { calls.hit("second"); return first + 1 }
            let third = try await step.run("third") { () -> Int in
                calls.hit("third")
                if calls["third"] < 3 { throw PaymentDeclined(code: "flaky") }
                return second + 1
            }
            calls.hit("function")
            return third
        }
        try await harness.client.send(Event(name: "storefront/cart.checkout.completed", data: ["cartId": "ed12c8bde"]))
        try await harness.runUntilIdle()

        let run = try await harness.onlyRun(of: "checkout")
        #expect(run.status == .completed)
        #expect(run.output == 3)
        #expect(calls["first"] == 1)
        #expect(calls["second"] == 1)
        #expect(calls["third"] == 3)
        #expect(calls["function"] == 1)
        let steps = try await harness.client.store.steps(runID: run.id)
        #expect(steps.map(\.key) == ["first", "second", "third"])
        #expect(steps[2].failedAttempts == 2)
    }

    @Test("a one-expression body records its value, and a one-expression function returns it")
    func oneExpressionClosures() async throws {
        let harness = try Harness()
        let printed = Counter()
        try harness.client.createFunction(id: "short", trigger: .event("short")) { event, step in
            try await step.perform("side-effect") { printed.hit("side") }
            let six = try await step.run("value") { 2 * 3 }
            return try await step.run("doubled") { six * 2 }
        }
        try harness.client.createFunction(id: "shortest", trigger: .event("short")) { event, step in
            try await step.run("only") { 7 }
        }
        try await harness.client.send(Event(name: "short"))
        try await harness.runUntilIdle()
        #expect(try await harness.onlyRun(of: "short").output == 12)
        #expect(try await harness.onlyRun(of: "shortest").output == 7)
        #expect(printed["side"] == 1)
        let run = try await harness.onlyRun(of: "short")
        let steps = try await harness.client.steps(ofRun: run.id)
        #expect(steps.map(\.output) == [.null, 6, 12])
    }

    @Test("a repeated step id makes one step per call, and each replays")
    func repeatedIDs() async throws {
        let harness = try Harness()
        let calls = Counter()
        try harness.client.createFunction(id: "mailer", trigger: .event("newsletter/send"), options: .init(retries: fastRetries)) { event, step in
            var sent: [Int] = []
            for n in 0..<10 {
                sent.append(try await step.run("email") { calls.hit("email"); return n })
            }
            if step.attempt == 0 { throw PaymentDeclined(code: "once, outside any step") }
            return sent
        }
        try await harness.client.send(Event(name: "newsletter/send"))
        try await harness.runUntilIdle()

        let run = try await harness.onlyRun(of: "mailer")
        #expect(run.status == .completed)
        #expect(run.output == .array((0..<10).map { .int(Int64($0)) }))
        #expect(run.attempt == 1, "the function failed once outside any step")
        #expect(calls["email"] == 10, "the second attempt replayed all ten steps")
        let keys = try await harness.client.store.steps(runID: run.id).map(\.key)
        #expect(keys == ["email"] + (1..<10).map { "email\u{1F}\($0)" })
    }

    @Test("typed results round-trip exactly through the record")
    func typedResults() async throws {
        let harness = try Harness()
        let seen = Mutex<[Receipt]>([])
        try harness.client.createFunction(id: "receipt", trigger: .event("storefront/cart.checkout.completed"), options: .init(retries: fastRetries)) { event, step in
            let receipt = try await step.run("render") {
                Receipt(cartId: event.data["cartId"]?.stringValue ?? "", total: 19.99, lines: ["a", "ü", "👋"])
            }
            seen.withLock { $0.append(receipt) }
            if step.attempt == 0 { throw PaymentDeclined(code: "retry the function") }
            return receipt
        }
        try await harness.client.send(Event(name: "storefront/cart.checkout.completed", data: ["cartId": "ed12c8bde"]))
        try await harness.runUntilIdle()
        let expected = Receipt(cartId: "ed12c8bde", total: 19.99, lines: ["a", "ü", "👋"])
        #expect(seen.withLock { $0 } == [expected, expected], "the first run and the replay saw the same value")
        let run = try await harness.onlyRun(of: "receipt")
        #expect(try run.output?.decode(as: Receipt.self) == expected)
    }

    @Test("a step's error is recorded with its type and message, and replays as the same StepError")
    func typedErrors() async throws {
        let harness = try Harness()
        let caught = Mutex<[StepError]>([])
        try harness.client.createFunction(id: "charge", trigger: .event("billing/charge"), options: .init(retries: fastRetries)) { event, step in
            do {
                try await step.run("charge-card") { () -> Int in throw NonRetriableError("charging failed", cause: PaymentDeclined(code: "insufficient_funds")) }
            } catch let error as StepError {
                caught.withLock { $0.append(error) }
            }
            if step.attempt == 0 { throw PaymentDeclined(code: "retry to replay") }
            return "handled"
        }
        try await harness.client.send(Event(name: "billing/charge"))
        try await harness.runUntilIdle()
        let errors = caught.withLock { $0 }
        #expect(errors.count == 2)
        #expect(errors.first == errors.last, "the replay threw the same error")
        #expect(errors.first?.error.name == "StepwiseTests.PaymentDeclined")
        #expect(errors.first?.error.message == "charging failed: card declined (insufficient_funds)")
        #expect(errors.first?.stepID == "charge-card")
        let run = try await harness.onlyRun(of: "charge")
        #expect(run.status == .completed)
        let step = try #require(try await harness.client.store.steps(runID: run.id).first)
        #expect(step.status == .failed)
        #expect(step.failedAttempts == 1, "NonRetriableError is not retried")
    }

    @Test("retries back off exponentially and count per step")
    func backoff() async throws {
        let harness = try Harness()
        let calls = Counter()
        try harness.client.createFunction(id: "flaky", trigger: .event("flaky"), options: .init(retries: fastRetries)) { event, step in
            try await step.run("one") { () -> Int in
                calls.hit("one")
                if calls["one"] < 3 { throw PaymentDeclined(code: "one") }
                return 1
            }
            // A second step gets its own attempts: 4 failures here are still within 5 attempts.
            try await step.run("two") { () -> Int in
                calls.hit("two")
                if calls["two"] < 5 { throw PaymentDeclined(code: "two") }
                return 2
            }
        }
        let start = harness.clock.now()
        try await harness.client.send(Event(name: "flaky"))
        var availability: [Int64] = []
        while let next = try await harness.worker.drain() {
            availability.append(next - harness.clock.now())
            harness.clock.advance(to: next)
        }
        // After each failure the run waits 1 s, 2 s, 4 s, … from the failure (no jitter here).
        #expect(availability == [1000, 2000, 1000, 2000, 4000, 8000])
        let run = try await harness.onlyRun(of: "flaky")
        #expect(run.status == .completed)
        #expect(harness.clock.now() - start == 18_000)
        #expect(calls["one"] == 3)
        #expect(calls["two"] == 5)
    }

    @Test("jittered backoff stays between half and all of the exponential delay")
    func jitter() {
        let backoff = Backoff.exponentialJitter(base: .seconds(1), maximum: .seconds(600))
        for failures in 1...12 {
            let full = min(1000 * Int64(1 << (failures - 1)), 600_000)
            for _ in 0..<50 {
                let delay = backoff.delay(afterFailures: failures)
                #expect(delay >= full / 2 && delay <= full)
            }
        }
    }

    @Test("RetryAfterError retries after its own delay")
    func retryAfter() async throws {
        let harness = try Harness()
        let calls = Counter()
        try harness.client.createFunction(id: "rate-limited", trigger: .event("api/call"), options: .init(retries: fastRetries)) { event, step in
            try await step.run("call") { () -> String in
                calls.hit("call")
                if calls["call"] == 1 { throw RetryAfterError("429 Too Many Requests", delay: .seconds(30)) }
                return "ok"
            }
        }
        try await harness.client.send(Event(name: "api/call"))
        let next = try #require(try await harness.worker.drain())
        #expect(next - harness.clock.now() == 30_000)
        let waiting = try await harness.onlyRun(of: "rate-limited")
        #expect(waiting.status == .queued)
        #expect(waiting.error?.message == "429 Too Many Requests")
        harness.clock.advance(to: next)
        #expect(try await harness.worker.drain() == nil)
        #expect(try await harness.onlyRun(of: "rate-limited").status == .completed)
    }

    @Test("an error outside any step retries the function, up to its attempts")
    func functionLevelRetries() async throws {
        let harness = try Harness()
        let calls = Counter()
        try harness.client.createFunction(id: "always-fails", trigger: .event("doomed"), options: .init(retries: RetryPolicy(retries: 2, backoff: .constant(.seconds(5))))) { event, step in
            calls.hit("function")
            throw PaymentDeclined(code: "attempt \(calls["function"])")
        }
        try await harness.client.send(Event(name: "doomed"))
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "always-fails")
        #expect(calls["function"] == 3, "2 retries: 3 attempts")
        #expect(run.status == .failed)
        #expect(run.attempt == 3)
        #expect(run.error == ErrorRecord(name: "StepwiseTests.PaymentDeclined", message: "card declined (attempt 3)"))
    }

    @Test("NonRetriableError fails the run at once")
    func nonRetriable() async throws {
        let harness = try Harness()
        let calls = Counter()
        try harness.client.createFunction(id: "strict", trigger: .event("strict")) { event, step in
            calls.hit("function")
            throw NonRetriableError("account deleted")
        }
        try await harness.client.send(Event(name: "strict"))
        try await harness.runUntilIdle()
        #expect(calls["function"] == 1)
        let run = try await harness.onlyRun(of: "strict")
        #expect(run.status == .failed)
        #expect(run.error?.message == "account deleted")
    }

    @Test("final failure emits stepwise/function.failed once and runs onFailure once")
    func finalFailure() async throws {
        let harness = try Harness()
        let calls = Counter()
        let failures = Mutex<[StoredEvent]>([])
        let trigger = Event(name: "billing/invoice.paid", data: ["invoiceId": "in_1"])
        try harness.client.createFunction(
            id: "reconcile",
            trigger: .event("billing/invoice.paid"),
            options: .init(retries: fastRetries, onFailure: { event, step in
                try await step.perform("alert") { calls.hit("onFailure") }
                failures.withLock { $0.append(event) }
            })
        ) { event, step in
            try await step.run("fetch-ledger") { () -> Int in
                calls.hit("step")
                throw PaymentDeclined(code: "ledger down")
            }
        }
        let eventID = try await harness.client.send(trigger)
        try await harness.runUntilIdle()

        #expect(calls["step"] == 5, "4 retries: 5 attempts")
        let run = try await harness.onlyRun(of: "reconcile")
        #expect(run.status == .failed)
        #expect(run.error?.name == "StepwiseTests.PaymentDeclined")
        #expect(calls["onFailure"] == 1)

        let failed = try await harness.client.events(named: SystemEvent.functionFailed).events
        #expect(failed.count == 1)
        let data = try #require(failed.first?.data)
        #expect(data["function_id"] == "reconcile")
        #expect(data["app_id"] == "test-app")
        #expect(data["run_id"] == .string(run.id.description))
        #expect(data["error"]?["message"] == "card declined (ledger down)")
        #expect(data["event"]?["id"] == .string(eventID.description))
        #expect(data["event"]?["data"] == ["invoiceId": "in_1"])
        #expect(failures.withLock { $0.map(\.id) } == failed.map(\.id))
        #expect(try await harness.onlyRun(of: "reconcile-failure").status == .completed)
    }

    @Test("stepwise/function.finished carries the output")
    func finished() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "adder", trigger: .event("math/add")) { event, step in
            try await step.run("add") { (event.data["a"]?.intValue ?? 0) + (event.data["b"]?.intValue ?? 0) }
        }
        try await harness.client.send(Event(name: "math/add", data: ["a": 2, "b": 40]))
        try await harness.runUntilIdle()
        let finished = try await harness.client.events(named: SystemEvent.functionFinished).events
        #expect(finished.count == 1)
        #expect(finished.first?.data["output"] == 42)
        #expect(finished.first?.data["function_id"] == "adder")
    }

    @Test("one event fans out to every matching function")
    func fanOut() async throws {
        let harness = try Harness()
        let calls = Counter()
        for id in ["send-receipt", "update-inventory", "notify-warehouse"] {
            try harness.client.createFunction(id: id, trigger: .event("storefront/cart.checkout.completed")) { event, step in
                try await step.perform("work") { calls.hit(id) }
            }
        }
        try harness.client.createFunction(id: "audit-storefront", trigger: .event("storefront/*")) { event, step in
            calls.hit("audit")
        }
        try harness.client.createFunction(id: "unrelated", trigger: .event("billing/invoice.paid")) { event, step in
            calls.hit("unrelated")
        }
        let eventID = try await harness.client.send(Event(name: "storefront/cart.checkout.completed", data: ["cartId": "ed12c8bde"]))
        let runs = try await harness.client.store.runs(RunQuery(eventID: eventID))
        #expect(Set(runs.map(\.functionID)) == ["send-receipt", "update-inventory", "notify-warehouse", "audit-storefront"])
        try await harness.runUntilIdle()
        for id in ["send-receipt", "update-inventory", "notify-warehouse", "audit"] {
            #expect(calls[id] == 1, "\(id)")
        }
        #expect(calls["unrelated"] == 0)
    }

    @Test("a function listening to stepwise/* does not trigger itself")
    func noSelfTrigger() async throws {
        let harness = try Harness()
        let calls = Counter()
        try harness.client.createFunction(id: "watch-system", trigger: .event("stepwise/*")) { event, step in
            calls.hit(event.data["function_id"]?.stringValue ?? "?")
        }
        try harness.client.createFunction(id: "worker-fn", trigger: .event("work")) { event, step in }
        try await harness.client.send(Event(name: "work"))
        try await harness.runUntilIdle()
        #expect(calls["worker-fn"] == 1)
        #expect(calls["watch-system"] == 0)
    }

    @Test("duplicate and malformed function definitions are refused")
    func definitionErrors() throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "once", trigger: .event("a")) { event, step in }
        #expect(throws: FunctionDefinitionError.self) {
            try harness.client.createFunction(id: "once", trigger: .event("b")) { event, step in }
        }
        #expect(throws: FunctionDefinitionError.self) {
            try harness.client.createFunction(id: "", trigger: .event("b")) { event, step in }
        }
        #expect(throws: FunctionDefinitionError.self) {
            try harness.client.createFunction(id: "none") { event, step in }
        }
        #expect(harness.client.functions.map(\.id) == ["once"])
    }

    @Test("an event sent by another client on the store creates runs for registered functions")
    func crossClientRegistration() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let harness = try Harness(store: store)
        try harness.client.createFunction(id: "remote", trigger: .event("remote/event")) { event, step in "done" }
        // The worker registers its functions when it starts (here: its first drain).
        try await harness.worker.drain()
        let sender = StepwiseClient(id: "test-app", store: store, configuration: .init(clock: harness.clock))
        try await sender.send(Event(name: "remote/event"))
        try await harness.runUntilIdle()
        #expect(try await harness.onlyRun(of: "remote").status == .completed)
    }

    @Test("an event whose ts lies in the future triggers its runs then")
    func futureTimestamp() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "later", trigger: .event("later")) { event, step in "ran" }
        let due = harness.clock.now() + 3_600_000
        try await harness.client.send(Event(name: "later", ts: due))
        #expect(try await harness.worker.drain() == due)
        #expect(try await harness.onlyRun(of: "later").status == .queued)
        try await harness.runUntilIdle()
        #expect(try await harness.onlyRun(of: "later").status == .completed)
        #expect(harness.clock.now() == due)
    }
}
