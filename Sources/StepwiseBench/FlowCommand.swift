import ArgumentParser
import Foundation
import Logging
import Stepwise
import Synchronization

/// `stepwise-bench flow`: what flow control costs and how well it keeps its promises, each
/// next to the same workload without it, measured in the same run.
struct FlowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flow",
        abstract: "Flow control: concurrency_keys (steps/s with a key per run), fairness_small_keys_ms, fairness_busy_worker_ms, throttle_error_p99_ms."
    )

    @OptionGroup var options: CommonOptions

    @Option(help: "Runs (each with its own concurrency key, limit 1) for concurrency_keys.")
    var keyedRuns = 10_000

    @Option(help: "Queued runs of the one hot key for fairness_small_keys_ms.")
    var hotRuns = 10_000

    @Option(help: "Events for throttle_error_p99_ms, throttled at 100 a second.")
    var throttledEvents = 2_000

    func run() async throws {
        let workspace = try Workspace(directory: options.directory)
        let reporter = Reporter(json: options.json)
        reporter.header("flow (durability \(options.durability.rawValue), median of \(options.rounds) rounds)")
        var keyed: [Double] = []
        var plain: [Double] = []
        for _ in 0..<options.rounds {
            plain.append(try await stepsRate(keyed: false, workspace: workspace))
            keyed.append(try await stepsRate(keyed: true, workspace: workspace))
        }
        reporter.report(Measurement(
            workload: "flow", metric: "concurrency_keys", value: median(keyed), unit: "steps/s", baseline: median(plain)))

        // Twice: every key's limit binding first (10 each, a worker of 100), then the worker's
        // capacity (a worker of 10, limits of 100), where only the keys' turns keep the hot
        // key's backlog from taking every claim.
        for (metric, keyLimit, workerConcurrency) in [("fairness_small_keys_ms", 10, 100), ("fairness_busy_worker_ms", 100, 10)] {
            var withHotKey: [Double] = []
            var alone: [Double] = []
            for _ in 0..<options.rounds {
                alone.append(try await firstStartsOfSmallKeys(
                    hotRuns: 0, keyLimit: keyLimit, workerConcurrency: workerConcurrency, workspace: workspace))
                withHotKey.append(try await firstStartsOfSmallKeys(
                    hotRuns: hotRuns, keyLimit: keyLimit, workerConcurrency: workerConcurrency, workspace: workspace))
            }
            reporter.report(Measurement(
                workload: "flow", metric: metric, value: median(withHotKey), unit: "ms", baseline: median(alone), higherIsBetter: false))
        }

        let throttle = try await throttleErrors(workspace: workspace)
        reporter.report(Measurement(
            workload: "flow", metric: "throttle_error_p99_ms", value: percentile(throttle.errors, 0.99), unit: "ms",
            baseline: throttle.unthrottledP99, higherIsBetter: false))
        // Where the error comes from: the first `limit` starts, which ideally come at once,
        // against the paced ones after them.
        reporter.report(Measurement(
            workload: "flow", metric: "throttle_error_burst_p99_ms", value: percentile(Array(throttle.errors.prefix(100)), 0.99),
            unit: "ms", baseline: throttle.unthrottledP99, higherIsBetter: false))
        reporter.report(Measurement(
            workload: "flow", metric: "throttle_error_paced_p99_ms", value: percentile(Array(throttle.errors.dropFirst(100)), 0.99),
            unit: "ms", baseline: throttle.unthrottledP99, higherIsBetter: false))
        reporter.report(Measurement(
            workload: "flow", metric: "throttle_error_p50_ms", value: percentile(throttle.errors, 0.5), unit: "ms",
            baseline: throttle.unthrottledP99, higherIsBetter: false))
    }

    private var durability: SQLiteStore.Durability { options.durability == .full ? .full : .normal }

    private func client(_ workspace: Workspace) throws -> StepwiseClient {
        // Quiet: a worker stopped mid-workload logs every run it releases.
        var logger = Logger(label: "stepwise.bench")
        logger.logLevel = .warning
        return StepwiseClient(id: "bench", store: try SQLiteStore(.init(path: workspace.freshPath(), durability: durability)), logger: logger)
    }

    /// Steps per second of `inflight100`'s shape (ten-step runs, a worker of 100), every run
    /// with a concurrency key of its own (limit 1) or none at all: the cost of counting keys
    /// at every claim and giving slots back at every run's end.
    private func stepsRate(keyed: Bool, workspace: Workspace) async throws -> Double {
        let client = try client(workspace)
        let options = keyed ? FunctionOptions(concurrency: [.init(limit: 1, key: "event.data.key")]) : FunctionOptions()
        try client.createFunction(id: "ten-steps", trigger: .event("bench/ten-steps"), options: options) { event, step in
            var last = 0
            for index in 0..<10 {
                last = try await step.run("step") { index }
            }
            return last
        }
        try await client.registerFunctions()
        for start in stride(from: 0, to: keyedRuns, by: 1000) {
            try await client.send((start..<min(keyedRuns, start + 1000)).map { Event(name: "bench/ten-steps", data: ["key": .string("k\($0)")]) })
        }
        let finished = client.subscribe(to: "stepwise/function.finished", bufferSize: keyedRuns + 1000)
        var iterator = finished.makeAsyncIterator()
        let worker = client.worker(.init(concurrency: 100))
        var service: Task<Void, any Error>?
        let seconds = try await measure {
            service = Task { try await worker.run() }
            for _ in 0..<keyedRuns {
                guard await iterator.next() != nil else { throw BenchError("the bus ended") }
            }
        }
        service?.cancel()
        return Double(keyedRuns * 10) / seconds
    }

    /// Milliseconds from a worker's start until each of 100 small keys (10 queued runs each)
    /// has had its first run start, with `hotRuns` runs of one hot key queued ahead of them;
    /// every key has a limit of `keyLimit`, and the worker runs `workerConcurrency` at a time.
    private func firstStartsOfSmallKeys(hotRuns: Int, keyLimit: Int, workerConcurrency: Int, workspace: Workspace) async throws -> Double {
        let client = try client(workspace)
        let firstStarts = Mutex<[String: ContinuousClock.Instant]>([:])
        try client.createFunction(
            id: "keyed", trigger: .event("bench/keyed"), options: .init(concurrency: [.init(limit: keyLimit, key: "event.data.key")])
        ) { event, step in
            let key = event.data["key"]?.stringValue ?? ""
            try await step.perform("start") {
                let now = ContinuousClock.now
                firstStarts.withLock { starts in if starts[key] == nil { starts[key] = now } }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        try await client.registerFunctions()
        for start in stride(from: 0, to: hotRuns, by: 1000) {
            try await client.send((start..<min(hotRuns, start + 1000)).map { _ in Event(name: "bench/keyed", data: ["key": "hot"]) })
        }
        try await client.send((0..<1000).map { Event(name: "bench/keyed", data: ["key": .string("small-\($0 % 100)")]) })
        let worker = client.worker(.init(concurrency: workerConcurrency))
        let started = ContinuousClock.now
        let service = Task { try await worker.run() }
        defer { service.cancel() }
        let deadline = started + .seconds(120)
        while ContinuousClock.now < deadline {
            let latest: ContinuousClock.Instant? = firstStarts.withLock { starts in
                let small = starts.filter { $0.key.hasPrefix("small-") }
                return small.count == 100 ? small.values.max() : nil
            }
            if let latest {
                let elapsed = latest - started
                return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw BenchError("the small keys' first runs had not all started after 120 s")
    }

    /// The p99 of how far each start falls from its ideal slot, in ms, with a throttle of 100
    /// a second over `throttledEvents` events sent at once, in real time; next to the p99 of
    /// how late unthrottled runs start after their event, the claim's own delay.
    private func throttleErrors(workspace: Workspace) async throws -> (errors: [Double], unthrottledP99: Double) {
        let client = try client(workspace)
        let starts = Mutex<[Int: (received: Int64, started: Int64)]>([:])
        let clock = SystemWallClock()
        for (id, throttle) in [("throttled", Throttle(limit: 100, period: .seconds(1))), ("plain", nil)] {
            try client.createFunction(id: id, trigger: .event(EventPattern("bench/\(id)")), options: .init(throttle: throttle)) { event, step in
                let index = Int(event.data["n"]?.intValue ?? 0)
                try await step.perform("start") {
                    let now = (received: event.ts, started: clock.now())
                    starts.withLock { starts in if starts[index] == nil { starts[index] = now } }
                }
            }
        }
        try await client.registerFunctions()
        let worker = client.worker(.init(concurrency: 100))
        let service = Task { try await worker.run() }
        defer { service.cancel() }

        /// The starts of `count` runs, in ms since the epoch, with when the first of their
        /// events was received (its `ts`, from which the throttle reserves
        /// slots) and when the first batch was accepted (no run of theirs can start before).
        func run(_ name: String, count: Int) async throws -> (received: Int64, accepted: Int64, starts: [Int64]) {
            starts.withLock { $0 = [:] }
            let sent = clock.now()
            var accepted: Int64?
            // At once: in batches as large as a send takes.
            let batch = EventLimits.default.maxBatchCount
            for start in stride(from: 0, to: count, by: batch) {
                try await client.send((start..<min(count, start + batch)).map { Event(name: "bench/\(name)", data: ["n": .int(Int64($0))]) })
                if accepted == nil { accepted = clock.now() }
            }
            let deadline = ContinuousClock.now + .seconds(Int64(count / 100 + 60))
            while starts.withLock({ $0.count }) < count {
                guard ContinuousClock.now < deadline else { throw BenchError("the \(name) runs had not all started in time") }
                try await Task.sleep(for: .milliseconds(10))
            }
            return starts.withLock { starts in
                (starts.values.map(\.received).min() ?? sent, accepted ?? sent, (0..<count).map { starts[$0]?.started ?? 0 })
            }
        }

        let plain = try await run("plain", count: 1000)
        let plainLateness = plain.starts.map { Double($0 - plain.accepted) }
        let throttled = try await run("throttled", count: throttledEvents)
        // The ideal: 100 at once (the limit), then one every 10 ms, from the first event's
        // receipt, but none before the first batch was accepted: the time spent storing them is
        // the append's, which `ingest` measures, and no run can start before its event is stored.
        let errors = throttled.starts.sorted().enumerated().map { index, start in
            let ideal = max(throttled.accepted, throttled.received + Int64(max(0, index - 99) * 10))
            return abs(Double(start - ideal))
        }
        return (errors, percentile(plainLateness, 0.99))
    }
}
