import Foundation
import Stepwise
import Testing

/// The crash-test workload of StepwiseTestChild's `worker` command on a PostgreSQL schema:
/// one `crash/start` event per producer; each producer runs `compute`, sends `crash/emitted`
/// from a step (`emit`), runs `after`; each emitted event starts a `consumer` run. And what
/// must hold when it is done, however the workers were killed, stopped or cut off.
struct CrashWorkload: Sendable {
    let store: any Store
    let count: Int

    /// A client of the workers' app that holds no functions, as a web process would.
    var sender: StepwiseClient { StepwiseClient(id: "test-child", store: store) }

    /// Sends producer `n`'s event.
    func send(_ n: Int) async throws {
        try await sender.send(Event(name: "crash/start", data: ["n": .int(Int64(n))]))
    }

    /// Whether every producer completed and no run is left to do (the checks come after).
    func allDone() async throws -> Bool {
        let producers = try await store.runs(RunQuery(functionID: "producer", status: .completed, limit: 1000))
        guard producers.count >= count else { return false }
        let queued = try await store.runs(RunQuery(status: .queued, limit: 1))
        let running = try await store.runs(RunQuery(status: .running, limit: 1))
        return queued.isEmpty && running.isEmpty
    }

    /// How many producers completed so far.
    func completedProducers() async throws -> Int {
        try await store.runs(RunQuery(functionID: "producer", status: .completed, limit: 1000)).count
    }

    /// Waits until ``allDone()``, for up to `timeout`.
    func waitUntilDone(within timeout: Duration, _ what: String) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while try await !allDone() {
            guard clock.now < deadline else {
                let completed = (try? await completedProducers()) ?? -1
                throw PostgresTestSetupError(message: "\(what): \(completed) of \(count) producers completed within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The step log's lines, split into words: `start|ran|committed|interrupted RUN STEP PID …`
    /// (StepwiseTestChild's `loggedRun` says what each means).
    static func lines(_ log: String) throws -> [[Substring]] {
        try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ") }.filter { $0.count >= 4 }
    }

    /// Everything the invariants promise, checked on the database and the step log.
    ///
    /// - Parameter stalled: a process that was stopped past its leases, and the number of log
    ///   lines written before it stopped. A body it starts after it resumed may be one that
    ///   another worker has committed since: nothing can stop a stalled process from running
    ///   code, only its commits are refused (Worker says so). Those starts are not counted as
    ///   bodies run again; that their results are never committed still is.
    func checkInvariants(log: String, stalled: (pid: Int32, linesBefore: Int)? = nil) async throws {
        let producers = try await store.runs(RunQuery(functionID: "producer", limit: 1000))
        #expect(producers.count == count, "one producer run per event")
        #expect(producers.allSatisfy { $0.status == .completed }, "every producer completed")
        #expect(Set(producers.compactMap { $0.output?.intValue }) == Set((0..<count).map(Int64.init)))

        let emitted = try await store.events(EventQuery(name: "crash/emitted", limit: 1000)).events
        #expect(emitted.count == count, "every sendEvent step's event exists exactly once")
        #expect(Set(emitted.compactMap { $0.data["n"]?.intValue }).count == count)

        let consumers = try await store.runs(RunQuery(functionID: "consumer", limit: 1000))
        #expect(consumers.count == count, "every triggered run exists exactly once")
        #expect(consumers.allSatisfy { $0.status == .completed }, "every consumer completed")
        #expect(Set(consumers.map(\.eventID)) == Set(emitted.map(\.id)))

        let finished = try await store.events(EventQuery(name: SystemEvent.functionFinished, limit: 1000)).events
        #expect(finished.count == 2 * count, "every run ended once")

        // The recorded ids of each sendEvent step are the ids of the events that exist.
        let emittedIDs = Set(emitted.map(\.id.description))
        for producer in producers {
            let steps = try await store.steps(runID: producer.id)
            let emit = try #require(steps.first { $0.key == "emit" })
            let ids = emit.output?["ids"]?.arrayValue?.compactMap { $0.stringValue } ?? []
            #expect(ids.count == 1)
            #expect(ids.allSatisfy { emittedIDs.contains($0) })
        }

        let lines = try Self.lines(log)
        // No step body started after its result had committed, in any process.
        var committed: Set<String> = []
        var violations: [String] = []
        // A body's result is committed by at most one process: a worker that lost its lease
        // (stopped past it, cut off) and then finished the body must have been refused.
        var ran: [String: [Substring]] = [:]
        for (index, words) in lines.enumerated() {
            let key = "\(words[1]) \(words[2])"
            let exempt = stalled.map { words[3] == "\($0.pid)" && index >= $0.linesBefore } ?? false
            switch words[0] {
            case "committed": committed.insert(key)
            case "start" where committed.contains(key) && !exempt: violations.append(words.joined(separator: " "))
            case "ran": ran[key, default: []].append(words[3])
            default: break
            }
        }
        #expect(violations.isEmpty, "step bodies ran again after committing: \(violations.prefix(5))")
        let twice = ran.filter { $0.value.count > 1 }
        #expect(twice.isEmpty, "a step's result was committed by two bodies (run step: pids): \(twice.prefix(5))")
    }
}
