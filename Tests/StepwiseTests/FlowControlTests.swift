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

    @Test("keys take turns when the worker, not the key's limit, binds: a small key's runs start long before a big backlog is done")
    func keysTakeTurns() async throws {
        let harness = try Harness()
        let trace = Trace()
        try harness.client.createFunction(
            id: "per-tenant", trigger: .event("job"), options: .init(concurrency: [.init(limit: 100, key: "event.data.tenant")])
        ) { event, step in
            try await step.perform("work") { trace.add(event.data["tenant"]?.stringValue ?? "") }
        }
        try await harness.client.send((0..<40).map { _ in Event(name: "job", data: ["tenant": "big"]) })
        harness.clock.advance(by: .milliseconds(1))
        try await harness.client.send((0..<2).map { _ in Event(name: "job", data: ["tenant": "small"]) })
        harness.clock.advance(by: .milliseconds(1))
        try await harness.runUntilIdle()
        let order = trace.all
        #expect(order.count == 42)
        let small = order.indices.filter { order[$0] == "small" }
        // A worker of 8: the big tenant's turn (10) goes first, then the small tenant's runs,
        // which came before the big tenant's next turn was let go. In due order they would be
        // the 41st and 42nd.
        #expect(small.count == 2 && small.allSatisfy { $0 < 16 }, "the small tenant started at \(small)")
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

    @Test("throttle with timeouts.start: a run that could not start in time is cancelled then, and takes no slot (spec T4)")
    func throttleStartTimeout() async throws {
        let harness = try Harness()
        let steps = Counter()
        try harness.client.createFunction(
            id: "t4", trigger: .event("t4"),
            options: .init(timeouts: .init(start: .seconds(2)), throttle: .init(limit: 1, period: .seconds(10)))
        ) { _, step in
            try await step.perform("a") { steps.hit("a") }
            try await step.perform("b") { steps.hit("b") }
        }
        let start = harness.clock.now()
        try await harness.client.send((0..<3).map { _ in Event(name: "t4") })
        try await harness.runUntilIdle()
        let runs = try await harness.runs(of: "t4").sorted { $0.id < $1.id }
        #expect(runs.map(\.status) == [.completed, .cancelled, .cancelled])
        #expect(runs.dropFirst().allSatisfy { ($0.endedAt ?? 0) - start <= 2001 && $0.error?.message == "timeouts.start" })
        #expect(steps["a"] == 1 && steps["b"] == 1, "a started run's steps are not throttled")
        harness.clock.advance(to: start + 10_000)
        try await harness.client.send(Event(name: "t4"))
        #expect(try await harness.runs(of: "t4").first { $0.status == .queued }?.availableAt == start + 10_000,
                "the cancelled runs took no slot: the next starts at the next one")
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

    @Test("priority: a negative priority goes behind a later run, and never reorders another function's runs (spec P2, P4)")
    func priorityOrder() async throws {
        let harness = try Harness()
        let trace = Trace()
        try harness.client.createFunction(
            id: "prioritized", trigger: .event("job"),
            options: .init(concurrency: [.init(limit: 1)], priority: .init(run: "has(event.data.p) ? event.data.p : 0"))
        ) { event, step in
            try await step.perform("note") { trace.add(event.data["name"]?.stringValue ?? "") }
        }
        try harness.client.createFunction(id: "other", trigger: .event("other"), options: .init(concurrency: [.init(limit: 1)])) { event, step in
            try await step.perform("note") { trace.add(event.data["name"]?.stringValue ?? "") }
        }
        try await harness.client.registerFunctions()
        let start = harness.clock.now()
        // A blocker holds the slot while the others queue up behind it.
        try await harness.client.send(Event(name: "job", data: ["name": "blocker"]))
        let blocker = try #require(try await harness.client.store.claim(ClaimRequest(
            appID: "test-app", functionIDs: ["prioritized"], owner: "test", now: start, leaseDuration: 600_000)).first)
        try await harness.client.send([Event(name: "job", data: ["name": "D", "p": -60]), Event(name: "other", data: ["name": "o1"])])
        harness.clock.advance(to: start + 30_000)
        try await harness.client.send([Event(name: "job", data: ["name": "E"]), Event(name: "other", data: ["name": "o2"])])
        _ = try await harness.client.store.claim(ClaimRequest(
            appID: "test-app", functionIDs: ["prioritized"], owner: "test", now: harness.clock.now(), leaseDuration: 600_000, limit: 10))
        _ = try await harness.client.store.commit(RunCheckpoint(
            lease: blocker.lease, now: harness.clock.now(), step: nil, events: nil, transition: .complete(output: nil)))
        try await harness.runUntilIdle()
        let own = trace.all.filter { $0 == "D" || $0 == "E" }
        let others = trace.all.filter { $0.hasPrefix("o") }
        #expect(own == ["E", "D"], "D's −60 s put it behind E, queued 30 s later: \(trace.all)")
        #expect(others == ["o1", "o2"], "the other function's runs keep their order")
    }

    @Test("singleton skip: a run waiting between retries still holds its key (spec S3)")
    func singletonHeldThroughRetry() async throws {
        let harness = try Harness()
        let attempts = Counter()
        try harness.client.createFunction(
            id: "flaky-import", trigger: .event("import"),
            options: .init(retries: fastRetries, singleton: .init(key: "event.data.user", mode: .skip))
        ) { _, step in
            try await step.perform("import") {
                attempts.hit("import")
                if attempts["import"] < 2 { throw PaymentDeclined(code: "flaky") }
            }
        }
        try await harness.client.send(Event(name: "import", data: ["user": "u1"]))
        try await harness.worker.drain()
        let run = try await harness.onlyRun(of: "flaky-import")
        #expect(run.status == .queued && attempts["import"] == 1, "waiting for its retry")
        let skipped = try await harness.client.send(Event(name: "import", data: ["user": "u1"]))
        #expect(try await harness.client.admissions(of: skipped).map(\.reason) == [.singletonSkipped])
        try await harness.runUntilIdle()
        #expect(try await harness.runs(of: "flaky-import").count == 1)
    }

    @Test("a rate-limited event neither resets nor replaces a pending debounce (spec X1)")
    func rateLimitBeforeDebounce() async throws {
        let harness = try Harness()
        let trace = Trace()
        try harness.client.createFunction(
            id: "guarded", trigger: .event("edit"),
            options: .init(rateLimit: .init(limit: 1, period: .seconds(60)), debounce: .init(period: .seconds(2)))
        ) { event, step in
            try await step.perform("run") { trace.add("n\(event.data["n"]?.intValue ?? 0)") }
        }
        let start = harness.clock.now()
        let ids = try await sendOverTime(harness, [(0, Event(name: "edit", data: ["n": 1])), (1000, Event(name: "edit", data: ["n": 2]))])
        let pending = try await harness.onlyRun(of: "guarded")
        #expect(pending.eventID == ids[0] && pending.availableAt == start + 2000, "the second event moved nothing")
        #expect(try await harness.client.admissions(of: ids[1]).map(\.reason) == [.rateLimited])
        try await harness.runUntilIdle()
        #expect(trace.all == ["n1"])
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

    /// Sends `events` at each offset (ms from `start`), running what is due at each time.
    private func sendOverTime(_ harness: Harness, _ schedule: [(Int64, Event)]) async throws -> [EventID] {
        let start = harness.clock.now()
        var ids: [EventID] = []
        for (offset, event) in schedule {
            // Every run due before the event's time starts at its own time, as a live worker's would.
            while let next = try await harness.worker.drain(), next < start + offset {
                harness.clock.advance(to: max(next, harness.clock.now()))
            }
            harness.clock.advance(to: start + offset)
            try await harness.worker.drain()
            ids.append(try await harness.client.send(event))
        }
        return ids
    }

    @Test("debounce: one run with the latest event, at exactly the last event plus the period (spec D1, D3)")
    func debounce() async throws {
        let harness = try Harness()
        let trace = Trace()
        try harness.client.createFunction(
            id: "debounced", trigger: .event("edit"), options: .init(debounce: .init(period: .seconds(2), key: "event.data.acct"))
        ) { event, step in
            try await step.perform("run") { trace.add("\(event.data["acct"]?.stringValue ?? "")\(event.data["n"]?.intValue ?? 0)") }
        }
        let start = harness.clock.now()
        let ids = try await sendOverTime(harness, [
            (0, Event(name: "edit", data: ["acct": "A", "n": 1])), (1000, Event(name: "edit", data: ["acct": "B", "n": 2])),
            (1500, Event(name: "edit", data: ["acct": "A", "n": 3])), (2500, Event(name: "edit", data: ["acct": "A", "n": 4])),
        ])
        let pending = try await harness.runs(of: "debounced").sorted { $0.id < $1.id }
        #expect(pending.map { ($0.availableAt ?? 0) - start } == [4500, 3000], "A fires 2 s after its last event, B 2 s after its only one")
        #expect(pending.first?.eventID == ids[3], "the pending run holds the latest event (spec D5)")
        let why = try await harness.client.blockage(of: pending[0])
        #expect(why == .debounce(key: "A", until: Date(milliseconds: start + 4500)))
        try await harness.runUntilIdle()
        #expect(trace.all == ["B2", "A4"])
        let runs = try await harness.runs(of: "debounced").sorted { $0.id < $1.id }
        #expect(runs.map { ($0.startedAt ?? 0) - start } == [4500, 3000])
        let superseded = try await harness.client.admissions(of: ids[0])
        #expect(superseded.map(\.reason) == [.debounced] && superseded.first?.runID == runs[0].id)
    }

    @Test("debounce with a timeout: a run at most timeout after the first event, then a new one (spec D2)")
    func debounceTimeout() async throws {
        let harness = try Harness()
        let trace = Trace()
        try harness.client.createFunction(
            id: "capped", trigger: .event("tick"), options: .init(debounce: .init(period: .seconds(2), timeout: .milliseconds(5500)))
        ) { event, step in
            try await step.perform("run") { trace.add("e\(event.data["n"]?.intValue ?? 0)") }
        }
        let start = harness.clock.now()
        _ = try await sendOverTime(harness, (0...10).map { (Int64($0) * 1000, Event(name: "tick", data: ["n": .int(Int64($0))])) })
        try await harness.runUntilIdle()
        #expect(trace.all == ["e5", "e10"])
        let starts = try await harness.runs(of: "capped").sorted { $0.id < $1.id }.map { ($0.startedAt ?? 0) - start }
        #expect(starts == [5500, 11_500])
    }

    @Test("debounce: an event whose ts is older than the held one changes nothing (spec D4)")
    func debounceOlderEvent() async throws {
        let harness = try Harness()
        try harness.client.createFunction(id: "d", trigger: .event("e"), options: .init(debounce: .init(period: .seconds(2)))) { _, _ in }
        let now = harness.clock.now()
        let held = try await harness.client.send(Event(name: "e", data: ["n": 1], ts: now))
        harness.clock.advance(by: .seconds(1))
        let older = try await harness.client.send(Event(name: "e", data: ["n": 0], ts: now - 60_000))
        let run = try await harness.onlyRun(of: "d")
        #expect(run.eventID == held && run.availableAt == now + 2000)
        #expect(try await harness.client.admissions(of: older).map(\.reason) == [.debounced])
    }

    @Test("batch: full batches start at once, in order; the rest when the timeout after their first event runs out (spec B1, B2, B4)")
    func batches() async throws {
        let harness = try Harness()
        let batches = Trace()
        try harness.client.createFunction(
            id: "batched", trigger: .event("row"), options: .init(batchEvents: .init(maxSize: 3, timeout: .seconds(4), key: "event.data.acct"))
        ) { event, step in
            let names = step.events.map { "\($0.data["acct"]?.stringValue ?? "")\($0.data["n"]?.intValue ?? 0)" }
            #expect(event.id == step.events.first?.id)
            try await step.perform("write") { batches.add(names.joined(separator: ",")) }
        }
        let start = harness.clock.now()
        _ = try await sendOverTime(harness, [
            (0, Event(name: "row", data: ["acct": "A", "n": 0])), (100, Event(name: "row", data: ["acct": "A", "n": 1])),
            (150, Event(name: "row", data: ["acct": "B", "n": 2])), (200, Event(name: "row", data: ["acct": "A", "n": 3])),
            (300, Event(name: "row", data: ["acct": "A", "n": 4])), (400, Event(name: "row", data: ["acct": "A", "n": 5])),
        ])
        let open = try #require(try await harness.runs(of: "batched").first { $0.startedAt == nil && $0.eventCount == 2 })
        let why = try await harness.client.blockage(of: open)
        #expect(why == .batch(key: "A", events: 2, maxSize: 3, until: Date(milliseconds: start + 4300)))
        try await harness.runUntilIdle()
        #expect(batches.all == ["A0,A1,A3", "B2", "A4,A5"])
        let starts = try await harness.runs(of: "batched").sorted { $0.id < $1.id }.map { ($0.startedAt ?? 0) - start }
        #expect(starts == [200, 4150, 4300])
    }

    @Test("batch: an event for which the batch's if does not hold runs alone, at once (spec B3)")
    func batchCondition() async throws {
        let harness = try Harness()
        let sizes = Trace()
        try harness.client.createFunction(
            id: "free-batched", trigger: .event("job"),
            options: .init(batchEvents: .init(maxSize: 10, timeout: .seconds(60), if: "event.data.plan == 'free'"))
        ) { _, step in
            try await step.perform("run") { sizes.add("\(step.events.count)") }
        }
        try await harness.client.send([Event(name: "job", data: ["plan": "pro"]), Event(name: "job", data: ["plan": "free"])])
        try await harness.worker.drain()
        #expect(sizes.all == ["1"], "the pro event ran alone, at once; the free one waits in its batch")
    }

    @Test("singleton skip: an event while a run with its key is active starts none, and says which run it met (spec S1, S3)")
    func singletonSkip() async throws {
        let harness = try Harness()
        try harness.client.createFunction(
            id: "import", trigger: .event("import"), options: .init(retries: fastRetries, singleton: .init(key: "event.data.user", mode: .skip))
        ) { event, step in
            try await step.sleep("long", for: .seconds(60))
        }
        let first = try await harness.client.send(Event(name: "import", data: ["user": "u1"]))
        try await harness.worker.drain()
        let skipped = try await harness.client.send(Event(name: "import", data: ["user": "u1"]))
        try await harness.client.send(Event(name: "import", data: ["user": "u2"]))
        let records = try await harness.client.admissions(of: skipped)
        let firstRun = try #require(try await harness.runs(of: "import").first { $0.eventID == first })
        #expect(records.map(\.reason) == [.singletonSkipped] && records.first?.runID == firstRun.id)
        #expect(try await harness.runs(of: "import").count == 2, "u1's first run and u2's")
        try await harness.runUntilIdle()
        try await harness.client.send(Event(name: "import", data: ["user": "u1"]))
        #expect(try await harness.runs(of: "import").count == 3, "once u1's run ended, u1 runs again")
    }

    @Test("singleton cancel: a new event cancels the active run and starts its own (spec S2)")
    func singletonCancel() async throws {
        let harness = try Harness()
        try harness.client.createFunction(
            id: "sync", trigger: .event("sync"), options: .init(singleton: .init(key: "event.data.user", mode: .cancel))
        ) { event, step in
            try await step.sleep("long", for: .seconds(60))
        }
        let first = try await harness.client.send(Event(name: "sync", data: ["user": "u1"]))
        try await harness.worker.drain()
        let second = try await harness.client.send(Event(name: "sync", data: ["user": "u1"]))
        let runs = try await harness.runs(of: "sync")
        let cancelled = try #require(runs.first { $0.eventID == first })
        #expect(cancelled.status == .cancelled && cancelled.error?.message == "singleton")
        #expect(runs.first { $0.eventID == second }?.status == .queued)
        let systemEvents = try await harness.client.events(named: SystemEvent.functionCancelled).events
        #expect(systemEvents.first?.data["reason"] == "singleton")
    }

    @Test("a pending batch and a pending debounce survive a restart and still fire on time (spec B4)")
    func pendingSurviveRestart() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("flow.db")
        let clock = ManualClock()
        let fired = Trace()
        func client() throws -> StepwiseClient {
            let client = StepwiseClient(id: "app", store: try SQLiteStore(.init(path: path)), configuration: .init(clock: clock))
            try client.createFunction(id: "batched", trigger: .event("row"), options: .init(batchEvents: .init(maxSize: 10, timeout: .seconds(30)))) { _, step in
                try await step.perform("write") { fired.add("batch of \(step.events.count) at \(clock.now())") }
            }
            try client.createFunction(id: "debounced", trigger: .event("edit"), options: .init(debounce: .init(period: .seconds(20)))) { event, step in
                try await step.perform("index") { fired.add("debounce at \(clock.now())") }
            }
            return client
        }
        let start = clock.now()
        do {
            let before = try client()
            try await before.registerFunctions()
            try await before.send([Event(name: "row"), Event(name: "row"), Event(name: "edit")])
        }
        clock.advance(by: .seconds(5))
        let after = try client()
        try await after.worker().runUntilIdle(advancing: clock)
        #expect(Set(fired.all) == ["batch of 2 at \(start + 30_000)", "debounce at \(start + 20_000)"])
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
        (FunctionOptions(cancelOn: [.event("x/stop")], batchEvents: .init(maxSize: 10, timeout: .seconds(5))), "cannot be combined with cancelOn"),
        (FunctionOptions(debounce: .init(period: .seconds(5)), batchEvents: .init(maxSize: 10, timeout: .seconds(5))), "combined with debounce"),
        (FunctionOptions(batchEvents: .init(maxSize: 10, timeout: .seconds(5)), singleton: .init(mode: .skip)), "combined with singleton"),
        (FunctionOptions(batchEvents: .init(maxSize: 1, timeout: .seconds(5))), "maxSize"),
        (FunctionOptions(debounce: .init(period: .seconds(10), timeout: .seconds(5))), "must not be shorter"),
        (FunctionOptions(debounce: .init(period: .seconds(5)), singleton: .init(mode: .skip)), "singleton cannot be combined with debounce"),
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

@Suite("Flow control across processes")
struct FlowControlProcessTests {
    @Test("two worker processes on one file never run more than a key's limit at once, together")
    func limitAcrossProcesses() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("flow.db")
        let log = directory.path("flow.log")
        let first = try ChildProcess(["flow-worker", path, log])
        let second = try ChildProcess(["flow-worker", path, log])
        #expect(try await first.nextLine() == "ready")
        #expect(try await second.nextLine() == "ready")
        let store = try SQLiteStore(.init(path: path))
        let sender = StepwiseClient(id: "sender", store: store)
        try await sender.send((0..<40).map { Event(name: "flow/job", data: ["k": .string("k\($0 % 4)")]) })
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while try await store.runs(RunQuery(status: .completed, limit: 1000)).count < 40 {
            try #require(clock.now < deadline, "the runs did not all complete in time")
            try await Task.sleep(for: .milliseconds(50))
        }
        first.kill()
        second.kill()
        // Per key, sweep the bodies' enter and leave times: never more than 2 inside at once.
        var events: [String: [(time: UInt64, delta: Int)]] = [:]
        var pids = Set<Substring>()
        for line in try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 5, let time = UInt64(parts[4]) else { continue }
            pids.insert(parts[3])
            events[String(parts[2]), default: []].append((time, parts[0] == "enter" ? 1 : -1))
        }
        #expect(events.count == 4)
        for (key, marks) in events {
            // A leave and an enter at the same instant count the leave first.
            var inside = 0
            var peak = 0
            for mark in marks.sorted(by: { ($0.time, $0.delta) < ($1.time, $1.delta) }) {
                inside += mark.delta
                peak = max(peak, inside)
            }
            #expect(peak <= 2, "key \(key) had \(peak) runs inside at once")
            #expect(marks.count == 20, "key \(key): every run entered and left once")
        }
        #expect(pids.count == 2, "both processes ran some of the work")
    }
}
