import Foundation
import Synchronization
import Testing
@testable import Stepwise
import StepwiseTesting

/// How many bodies execute at once, and the most there ever were, by key.
final class Gauge: Sendable {
    private let state = Mutex<(now: [String: Int], peak: [String: Int])>(([:], [:]))

    func enter(_ key: String = "") {
        state.withLock { state in
            state.now[key, default: 0] += 1
            state.peak[key] = max(state.peak[key] ?? 0, state.now[key] ?? 0)
        }
    }

    func leave(_ key: String = "") { state.withLock { $0.now[key, default: 0] -= 1 } }
    func peak(_ key: String = "") -> Int { state.withLock { $0.peak[key] ?? 0 } }
}

/// Records the order things happened in, from any task.
final class Trace: Sendable {
    private let entries = Mutex<[String]>([])
    func add(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
}

@Suite("Flow control")
struct FlowControlTests {
    @Test("concurrency 2 with six events: never more than two execute, and all six complete (spec C1)")
    func concurrencyLimit() async throws {
        let harness = try Harness()
        let gauge = Gauge()
        try harness.client.createFunction(id: "limited", trigger: .event("job"), options: .init(concurrency: [.init(limit: 2)])) { event, step in
            try await step.perform("work") {
                gauge.enter()
                try await Task.sleep(for: .milliseconds(20))
                gauge.leave()
            }
        }
        try await harness.client.send((0..<6).map { Event(name: "job", data: ["n": .int(Int64($0))]) })
        try await harness.runUntilIdle()
        let runs = try await harness.runs(of: "limited")
        #expect(runs.count == 6 && runs.allSatisfy { $0.status == .completed })
        #expect(gauge.peak() == 2)
    }

    @Test("a sleeping run gives its slot back: every first step runs before any second (spec C2)")
    func sleepingGivesSlotBack() async throws {
        let harness = try Harness()
        let trace = Trace()
        try harness.client.createFunction(id: "sleepy", trigger: .event("job"), options: .init(concurrency: [.init(limit: 1)])) { event, step in
            let n = event.data["n"]?.intValue ?? 0
            try await step.perform("a") { trace.add("a\(n)") }
            try await step.sleep("pause", for: .seconds(10))
            try await step.perform("b") { trace.add("b\(n)") }
        }
        try await harness.client.send((0..<3).map { Event(name: "job", data: ["n": .int(Int64($0))]) })
        try await harness.runUntilIdle()
        #expect(trace.all.prefix(3).allSatisfy { $0.hasPrefix("a") }, "\(trace.all)")
        #expect(trace.all.count == 6)
    }

    @Test("a key limits runs per customer, and others run beside it (spec C3)")
    func concurrencyKey() async throws {
        let harness = try Harness()
        let gauge = Gauge()
        try harness.client.createFunction(
            id: "per-customer", trigger: .event("order"),
            options: .init(concurrency: [.init(limit: 1, key: "event.data.customerId")])
        ) { event, step in
            let customer = event.data["customerId"]?.stringValue ?? ""
            try await step.perform("work") {
                gauge.enter(customer)
                gauge.enter()
                try await Task.sleep(for: .milliseconds(20))
                gauge.leave()
                gauge.leave(customer)
            }
        }
        try await harness.client.send(["c1", "c1", "c2", "c1", "c2"].map { Event(name: "order", data: ["customerId": .string($0)]) })
        try await harness.runUntilIdle()
        #expect(try await harness.runs(of: "per-customer").allSatisfy { $0.status == .completed })
        #expect(gauge.peak("c1") == 1 && gauge.peak("c2") == 1)
        #expect(gauge.peak() == 2, "c1 and c2 ran side by side")
    }

    @Test("a shared environment key counts the runs of both functions (spec C4)")
    func sharedKey() async throws {
        let harness = try Harness()
        let gauge = Gauge()
        let limits: [ConcurrencyLimit] = [.init(limit: 2, key: "'api'", scope: .environment), .init(limit: 1, key: "event.data.acct")]
        for id in ["f", "g"] {
            try harness.client.createFunction(id: id, trigger: .event("call"), options: .init(concurrency: limits)) { event, step in
                // The account key has the default scope, the function: one per account per function.
                let account = "\(id)-" + (event.data["acct"]?.stringValue ?? "")
                try await step.perform("call") {
                    gauge.enter()
                    gauge.enter(account)
                    try await Task.sleep(for: .milliseconds(20))
                    gauge.leave(account)
                    gauge.leave()
                }
            }
        }
        try await harness.client.send((0..<6).map { Event(name: "call", data: ["acct": .string("a\($0 % 3)")]) })
        try await harness.runUntilIdle()
        let f = try await harness.runs(of: "f"), g = try await harness.runs(of: "g")
        #expect(f.count == 6 && g.count == 6)
        #expect(gauge.peak() <= 2 && gauge.peak("f-a0") == 1 && gauge.peak("g-a1") == 1)
    }

    @Test("events in one send start in array order under concurrency 1 (spec C5)")
    func sendOrder() async throws {
        let harness = try Harness()
        let trace = Trace()
        try harness.client.createFunction(id: "ordered", trigger: .event("job"), options: .init(concurrency: [.init(limit: 1)])) { event, step in
            try await step.perform("note") { trace.add(event.data["n"]?.stringValue ?? "") }
        }
        try await harness.client.send(["1", "2", "3", "4", "5"].map { Event(name: "job", data: ["n": .string($0)]) })
        try await harness.runUntilIdle()
        #expect(trace.all == ["1", "2", "3", "4", "5"])
    }

    @Test("throttle spaces starts and drops none (spec T1, T2, T3)")
    func throttle() async throws {
        let harness = try Harness()
        try harness.client.createFunction(
            id: "t1", trigger: .event("t1"), options: .init(throttle: .init(limit: 2, period: .seconds(1)))) { _, _ in }
        try harness.client.createFunction(
            id: "t2", trigger: .event("t2"), options: .init(throttle: .init(limit: 1, period: .seconds(5), burst: 2))) { _, _ in }
        try harness.client.createFunction(
            id: "t3", trigger: .event("t3"), options: .init(throttle: .init(limit: 1, period: .seconds(10), key: "event.data.user"))) { _, _ in }
        let start = harness.clock.now()
        try await harness.client.send((0..<10).map { _ in Event(name: "t1") } + (0..<5).map { _ in Event(name: "t2") }
            + ["A", "A", "A", "A", "B"].map { Event(name: "t3", data: ["user": .string($0)]) })
        try await harness.runUntilIdle()
        func starts(_ id: String) async throws -> [Int64] {
            try await harness.runs(of: id).sorted { $0.id < $1.id }.map { ($0.startedAt ?? -1) - start }
        }
        #expect(try await starts("t1") == [0, 0, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000])
        #expect(try await starts("t2") == [0, 0, 0, 5000, 10_000])
        #expect(try await starts("t3") == [0, 10_000, 20_000, 30_000, 0])
        #expect(try await harness.runs(of: "t1").allSatisfy { $0.status == .completed })
    }

    @Test("rate limit: an exact sliding window; the excess is stored, answered, and recorded (spec R1, R2, R3)")
    func rateLimit() async throws {
        let harness = try Harness()
        try harness.client.createFunction(
            id: "r1", trigger: .event("r1"),
            options: .init(rateLimit: .init(limit: 1, period: .seconds(60), key: "event.data.vip ? false : event.data.company"))
        ) { _, _ in }
        try harness.client.createFunction(id: "r2", trigger: .event("r2"), options: .init(rateLimit: .init(limit: 3, period: .seconds(10)))) { _, _ in }
        let start = harness.clock.now()
        func at(_ offset: Int64, _ events: [Event]) async throws -> [EventID] {
            harness.clock.advance(to: start + offset)
            return try await harness.client.send(events)
        }
        let c1 = Event(name: "r1", data: ["company": "c1"])
        let first = try await at(0, [c1] + (0..<5).map { _ in Event(name: "r2") })
        let skipped = try await at(10_000, [c1, Event(name: "r1", data: ["company": "c2"]), Event(name: "r1", data: ["company": "c1", "vip": true])])
        _ = try await at(59_999, [c1])
        _ = try await at(60_000, [c1])
        #expect(try await harness.runs(of: "r1").count == 4, "c1@0, c2@10 000, the VIP and c1@60 000")
        #expect(try await harness.runs(of: "r2").count == 3, "exactly 3 of 5 (Inngest's bucket would make 1)")
        let record = try await harness.client.admissions(of: skipped[0])
        #expect(record.map(\.reason) == [.rateLimited] && record.first?.functionID == "r1")
        #expect(try await harness.client.event(id: skipped[0]) != nil, "a skipped event is stored")
        #expect(try await harness.client.admissions(of: first[5]).map(\.reason) == [.rateLimited])
        _ = try await at(65_000, [Event(name: "r2")])
        #expect(try await harness.runs(of: "r2").count == 4, "the window slid past the first three")
    }

    @Test("idempotency: one run per key in 24 hours (spec I1)")
    func idempotency() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "charge", trigger: .event("order"), options: .init(idempotency: "event.data.orderId")) { _, _ in }
        let start = harness.clock.now()
        func send(_ order: String, at offset: Int64) async throws -> EventID {
            harness.clock.advance(to: start + offset)
            return try await harness.client.send(Event(name: "order", data: ["orderId": .string(order)]))
        }
        _ = try await send("o1", at: 0)
        let duplicate = try await send("o1", at: 3_600_000)
        _ = try await send("o2", at: 3_600_000)
        _ = try await send("o1", at: 86_400_001)
        #expect(try await harness.runs(of: "charge").count == 3)
        #expect(try await harness.client.admissions(of: duplicate).map(\.reason) == [.idempotent])
    }

    @Test("a trigger's if: an event for which it does not hold, or cannot be evaluated, starts no run, and says why (spec F1)")
    func triggerIf() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "big", trigger: .event("payment", if: "event.data.amount > 100")) { _, _ in }
        let ids = try await harness.client.send([50, 150].map { Event(name: "payment", data: ["amount": .int($0)]) })
        #expect(try await harness.runs(of: "big").count == 1)
        let records = try await harness.client.admissions(of: ids[0])
        #expect(records.map(\.reason) == [.filtered])
        #expect(records.first?.detail.contains("event.data.amount > 100") == true)
    }

    @Test("a key that cannot be evaluated creates no run and is recorded with the expression")
    func keyEvaluationFails() async throws {
        let harness = try Harness()
        try harness.client.createFunction(
            id: "keyed", trigger: .event("job"), options: .init(concurrency: [.init(limit: 1, key: "event.data.a + 1")])) { _, _ in }
        let ids = try await harness.client.send([Event(name: "job", data: ["a": "text"]), Event(name: "job", data: ["a": 1])])
        #expect(try await harness.runs(of: "keyed").count == 1)
        let records = try await harness.client.admissions(of: ids[0])
        #expect(records.map(\.reason) == [.evaluationFailed])
        #expect(records.first?.detail.contains("event.data.a + 1") == true)
    }

    @Test("priority: clamped to ±600 s; a priority that is no integer counts as 0 with a note (spec P3)")
    func priorityClamp() async throws {
        let harness = try Harness()
        try harness.client.createFunction(
            id: "p", trigger: .event("job"), options: .init(concurrency: [.init(limit: 1)], priority: .init(run: "event.data.p"))) { _, _ in }
        try await harness.client.send([Event(name: "job", data: ["p": 10_000]), Event(name: "job", data: ["p": "high"])])
        let runs = try await harness.runs(of: "p").sorted { $0.id < $1.id }
        #expect(runs.map(\.flow.prioritySeconds) == [600, 0])
        #expect(runs[0].flow.notes.first?.contains("clamped") == true)
        #expect(runs[1].flow.notes.first?.contains("not an integer") == true)
    }

    @Test("re-registering with a new key leaves queued runs on their old keys (spec X3)")
    func keysStayWithRuns() async throws {
        let store = try freshTestStore()
        let clock = ManualClock()
        let before = StepwiseClient(id: "app", store: store, configuration: .init(clock: clock))
        try before.createFunction(id: "f", trigger: .event("job"), options: .init(concurrency: [.init(limit: 1, key: "event.data.a")])) { _, _ in }
        try await before.registerFunctions()
        try await before.send(Event(name: "job", data: ["a": "old", "b": "new"]))
        let after = StepwiseClient(id: "app", store: store, configuration: .init(clock: clock))
        try after.createFunction(id: "f", trigger: .event("job"), options: .init(concurrency: [.init(limit: 1, key: "event.data.b")])) { _, _ in }
        try await after.registerFunctions()
        try await after.send(Event(name: "job", data: ["a": "old", "b": "new"]))
        let runs = try await store.runs(RunQuery(functionID: "f", limit: 10)).sorted { $0.id < $1.id }
        #expect(runs.map { $0.flow.concurrency.first?.value } == ["old", "new"])
    }

    @Test("a waiting run says why: the key it is parked on and who holds it, or when its throttled start comes")
    func blockage() async throws {
        let harness = try Harness()
        try harness.client.createFunction(
            id: "keyed", trigger: .event("job"), options: .init(concurrency: [.init(limit: 1, key: "event.data.account")])) { _, _ in }
        try harness.client.createFunction(
            id: "throttled", trigger: .event("sync"), options: .init(throttle: .init(limit: 1, period: .seconds(60)))) { _, _ in }
        try await harness.client.registerFunctions()
        try await harness.client.send([Event(name: "job", data: ["account": "acme"]), Event(name: "job", data: ["account": "acme"])])
        try await harness.client.send([Event(name: "sync"), Event(name: "sync")])
        let claimed = try await harness.client.store.claim(ClaimRequest(
            appID: "test-app", functionIDs: ["keyed"], owner: "test", now: harness.clock.now(), leaseDuration: 60_000, limit: 10))
        let parked = try #require(try await harness.runs(of: "keyed").first { $0.status == .queued })
        let why = try await harness.client.blockage(of: parked)
        #expect(why == .concurrency(key: "acme", scope: .function, limit: 1, heldBy: claimed.map(\.run.id)))
        #expect("\(try #require(why))".contains("concurrency key 'acme'"))
        let later = try #require(try await harness.runs(of: "throttled").sorted { $0.id < $1.id }.last)
        #expect(try await harness.client.blockage(of: later) == .throttle(key: "", until: Date(milliseconds: harness.clock.now() + 60_000)))
    }

    @Test("createFunction refuses options that cannot work, naming the problem", arguments: [
        (FunctionOptions(rateLimit: .init(limit: 1, period: .seconds(60)), idempotency: "event.data.id"), "cannot be combined with rateLimit"),
        (FunctionOptions(concurrency: [.init(limit: 1), .init(limit: 2, key: "event.data.a"), .init(limit: 3, key: "event.data.b")]), "at most 2"),
        (FunctionOptions(concurrency: [.init(limit: 2, scope: .environment)]), "needs a key"),
        (FunctionOptions(concurrency: [.init(limit: 0)]), "at least 1"),
        (FunctionOptions(concurrency: [.init(limit: 1, key: "event.data.")]), "concurrency key"),
        (FunctionOptions(throttle: .init(limit: 1, period: .milliseconds(10))), "throttle period"),
        (FunctionOptions(rateLimit: .init(limit: 1, period: .seconds(2 * 86_400))), "rateLimit period"),
        (FunctionOptions(priority: .init(run: "event.data.p +")), "priority"),
    ])
    func refusedOptions(options: FunctionOptions, problem: String) throws {
        let client = try makeClient()
        #expect {
            try client.createFunction(id: "bad", trigger: .event("x"), options: options) { _, _ in }
        } throws: { error in
            "\(error)".contains(problem) && "\(error)".contains("'bad'")
        }
    }

    @Test("createFunction refuses two limits for one shared key, and an if that does not parse")
    func refusedSharedKeyAndIf() throws {
        let client = try makeClient()
        try client.createFunction(
            id: "f", trigger: .event("x"), options: .init(concurrency: [.init(limit: 5, key: "'openai'", scope: .environment)])) { _, _ in }
        #expect(throws: FunctionDefinitionError.self) {
            try client.createFunction(
                id: "g", trigger: .event("x"), options: .init(concurrency: [.init(limit: 50, key: "'openai'", scope: .environment)])) { _, _ in }
        }
        #expect {
            try client.createFunction(id: "h", trigger: .event("x", if: "event.data.a >")) { _, _ in }
        } throws: { error in
            "\(error)".contains("position") || "\(error)".contains("at ")
        }
    }
}
