import Foundation
import Synchronization
import Testing
@testable import Stepwise
import StepwiseTesting

/// Retention through the engine (issue 14): `client.prune` and its service, beside a worker.
/// What each store keeps or deletes is the conformance suite's (`StoreConformance.retentionCases`).
@Suite("Retention")
struct RetentionTests {
    @Test("a prune running beside a busy worker loses nothing: every event's run completes, and every run left has its event")
    func pruneBesideBusyWorker() async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteStore(.init(path: directory.path("busy.db")))
        let clock = ManualClock()
        let client = try makeClient(store: store, clock: clock, dedupeWindow: .milliseconds(1))
        let completed = Mutex(Set<Int64>())
        try client.createFunction(id: "work", trigger: .event("job")) { event, step in
            let n = event.data["n"]?.intValue ?? -1
            _ = try await step.run("one") { n }
            try await step.sleep("nap", for: .seconds(3))
            let two = try await step.run("two") { n * 2 }
            completed.withLock { _ = $0.insert(n) }
            return two
        }
        try await client.registerFunctions()
        let worker = client.worker(.init(concurrency: 4))
        let rounds = 20
        let perRound = 10
        let pruned = try await withThrowingTaskGroup(of: PruneResult.self) { group in
            group.addTask {
                for round in 0..<rounds {
                    try await client.send((0..<perRound).map { Event(name: "job", data: ["n": .int(Int64(round * perRound + $0))]) })
                    _ = try await worker.drain()
                    clock.advance(by: .seconds(1))
                }
                return PruneResult()
            }
            group.addTask {
                var total = PruneResult()
                for _ in 0..<60 {
                    // Everything ended is past an age of zero: the race is the point.
                    let report = try await client.prune(RetentionPolicy(maximumAge: .zero, batchSize: 3, pause: .zero))
                    total.runs += report.deleted.runs
                    total.events += report.deleted.events
                    try await Task.sleep(for: .milliseconds(5))
                }
                return total
            }
            var total = PruneResult()
            for try await result in group {
                total.runs += result.runs
                total.events += result.events
            }
            return total
        }
        try await worker.runUntilIdle(advancing: clock)
        #expect(completed.withLock { $0.count } == rounds * perRound, "every event's run completed")
        #expect(pruned.runs > 0, "the prune did delete ended runs meanwhile")
        let runs = try await store.runs(RunQuery(limit: 1000))
        #expect(runs.allSatisfy { $0.status == .completed }, "no run failed: \(runs.filter { $0.status != .completed }.map(\.error))")
        for run in runs {
            #expect(try await store.event(id: run.eventID, environment: "default") != nil, "run \(run.id) has its event")
        }
        clock.advance(by: .seconds(1))
        let report = try await client.prune(RetentionPolicy(maximumAge: .zero, batchSize: 50, pause: .zero))
        #expect(report.after.runs == 0 && report.after.events == 0, "once all ended, all goes: \(report)")
        #expect(report.before.bytes.map { $0 > 0 } == true)
    }

    @Test("events stay for the whole dedupe window, whatever the age: a duplicate is still dropped")
    func dedupeWindowHolds() async throws {
        let clock = ManualClock()
        let client = try makeClient(store: try SQLiteStore(.init(path: nil)), clock: clock, dedupeWindow: .seconds(3600))
        let first = try await client.send(Event(name: "a", id: "once"))
        clock.advance(by: .seconds(1800))
        let report = try await client.prune(RetentionPolicy(maximumAge: .seconds(60)))
        #expect(report.deleted == PruneResult(), "inside the window nothing goes: \(report)")
        #expect(try await client.send(Event(name: "a", id: "once")) == first)
        clock.advance(by: .seconds(3600))
        let later = try await client.prune(RetentionPolicy(maximumAge: .seconds(60)))
        #expect(later.deleted.events == 1 && later.deleted.dedupeKeys == 1, "\(later)")
    }

    @Test("a bad policy, or a store that cannot prune, is an error that says so")
    func refused() async throws {
        let client = try makeClient(store: try SQLiteStore(.init(path: nil)))
        await #expect(throws: RetentionError.invalidPolicy("batch size must be at least 1, not 0")) {
            try await client.prune(RetentionPolicy(maximumAge: .seconds(1), batchSize: 0))
        }
        let wrapped = try makeClient(store: FaultInjectingStore(try SQLiteStore(.init(path: nil))))
        await #expect(throws: RetentionError.self) { try await wrapped.prune(RetentionPolicy(maximumAge: .seconds(1))) }
    }
}
