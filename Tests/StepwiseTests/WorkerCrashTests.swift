import Foundation
import Testing
@testable import Stepwise

/// Workers in real child processes, killed with SIGKILL at random moments.
@Suite("Worker crashes", .serialized)
struct WorkerCrashTests {
    static let producers = 120

    /// Sends the workload: one `crash/start` event per n, from a client of the same app
    /// that holds no functions (as a web process would).
    func sendWorkload(_ path: String, count: Int) async throws -> StepwiseClient {
        let sender = StepwiseClient(id: "test-child", store: try SQLiteStore(.init(path: path)))
        for n in 0..<count {
            try await sender.send(Event(name: "crash/start", data: ["n": .int(Int64(n))]))
        }
        return sender
    }

    /// Whether every producer completed and no run is left to do (the checks come after).
    func allDone(_ store: any Store, count: Int) async throws -> Bool {
        let producers = try await store.runs(RunQuery(functionID: "producer", status: .completed, limit: 1000))
        guard producers.count >= count else { return false }
        let queued = try await store.runs(RunQuery(status: .queued, limit: 1))
        let running = try await store.runs(RunQuery(status: .running, limit: 1))
        return queued.isEmpty && running.isEmpty
    }

    /// Everything the invariants promise, checked on the database and the step log.
    func checkInvariants(path: String, log: String, count: Int) async throws {
        let store = try SQLiteStore(.init(path: path))
        let producers = try await store.runs(RunQuery(functionID: "producer", limit: 1000))
        #expect(producers.count == count, "one producer run per event")
        #expect(producers.allSatisfy { $0.status == .completed })
        #expect(Set(producers.compactMap { $0.output?.intValue }) == Set((0..<count).map(Int64.init)))

        let emitted = try await store.events(EventQuery(name: "crash/emitted", limit: 1000)).events
        #expect(emitted.count == count, "every sendEvent step's event exists exactly once")
        #expect(Set(emitted.compactMap { $0.data["n"]?.intValue }).count == count)

        let consumers = try await store.runs(RunQuery(functionID: "consumer", limit: 1000))
        #expect(consumers.count == count, "every triggered run exists exactly once")
        #expect(consumers.allSatisfy { $0.status == .completed })
        #expect(Set(consumers.map(\.eventID)) == Set(emitted.map(\.id)))

        let finished = try await store.events(EventQuery(name: SystemEvent.functionFinished, limit: 1000)).events
        #expect(finished.count == 2 * count, "every run ended once")

        // The recorded ids of each sendEvent step are the ids of the events that exist.
        for producer in producers {
            let steps = try await store.steps(runID: producer.id)
            let emit = try #require(steps.first { $0.key == "emit" })
            let ids = emit.output?["ids"]?.arrayValue?.compactMap { $0.stringValue } ?? []
            #expect(ids.count == 1)
            #expect(emitted.contains { $0.id.description == ids.first })
        }

        // No step body started after its result had committed, in any process.
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        var committed: Set<String> = []
        var violations: [String] = []
        for line in lines {
            let parts = line.split(separator: " ")
            guard parts.count >= 3 else { continue }
            let key = "\(parts[1]) \(parts[2])"
            if parts[0] == "committed" { committed.insert(key) }
            if parts[0] == "start", committed.contains(key) { violations.append(String(line)) }
        }
        #expect(violations.isEmpty, "step bodies ran again after committing: \(violations.prefix(5))")
    }

    @Test("a worker killed with SIGKILL at random moments loses nothing and does nothing twice")
    func killAndRestart() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("crash.db")
        let log = directory.path("steps.log")
        var child = try ChildProcess(["worker", path, log])
        #expect(try await child.nextLine() == "ready")
        // The functions are registered; with no worker running, the whole workload queues up,
        // so the kills below meet it in flight. (Sending one event at a time beside a running
        // worker, on a loaded machine, let the worker finish before the first kill.)
        child.kill()
        let sender = try await sendWorkload(path, count: Self.producers)
        child = try ChildProcess(["worker", path, log])
        #expect(try await child.nextLine() == "ready")

        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(90)
        var kills = 0
        while try await !allDone(sender.store, count: Self.producers) {
            try #require(clock.now < deadline, "the workload did not finish in time after \(kills) kills")
            try await Task.sleep(for: .milliseconds(Int.random(in: 50...400)))
            if try await allDone(sender.store, count: Self.producers) { break }
            child.kill()
            kills += 1
            child = try ChildProcess(["worker", path, log])
            #expect(try await child.nextLine() == "ready")
        }
        child.kill()
        #expect(kills > 0, "the workload finished before any kill; the test proved nothing")
        print("killAndRestart: \(kills) kills")
        try await checkInvariants(path: path, log: log, count: Self.producers)
    }

    @Test("two worker processes on one file share the work and never run a committed step again")
    func twoWorkers() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("shared.db")
        let log = directory.path("steps.log")
        let first = try ChildProcess(["worker", path, log])
        let second = try ChildProcess(["worker", path, log])
        #expect(try await first.nextLine() == "ready")
        #expect(try await second.nextLine() == "ready")
        let sender = try await sendWorkload(path, count: Self.producers)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while try await !allDone(sender.store, count: Self.producers) {
            try #require(clock.now < deadline, "the workload did not finish in time")
            try await Task.sleep(for: .milliseconds(50))
        }
        first.kill()
        second.kill()
        try await checkInvariants(path: path, log: log, count: Self.producers)
        // Both processes did some of the work.
        let pids = Set(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").compactMap { $0.split(separator: " ").dropFirst(3).first })
        #expect(pids.count == 2)
    }
}
