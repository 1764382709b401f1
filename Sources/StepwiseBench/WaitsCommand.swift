import ArgumentParser
import Foundation
import Stepwise

/// `stepwise-bench sleepers`: memory held by sleeping runs, and how late they wake.
struct SleepersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sleepers",
        abstract: "Resident memory with 100 000 sleeping runs (rss_idle_mb, rss_sleeping_mb) and wake-up lateness (p50, p99)."
    )

    @OptionGroup var options: CommonOptions

    @Option(help: "How many runs sleep.")
    var runs = 100_000

    @Option(help: "Seconds over which their wake-up times are spread.")
    var window = 30

    @Option(help: "Seconds allowed to put them all to sleep, before the first wake-up.")
    var setupSeconds = 60

    func run() async throws {
        let workspace = try Workspace(directory: options.directory)
        let reporter = Reporter(json: options.json)
        reporter.header("sleepers (\(runs) runs, durability \(options.durability.rawValue))")
        let idle = residentMegabytes()

        let store = try SQLiteStore(.init(path: workspace.freshPath(), durability: options.durability == .full ? .full : .normal))
        let client = StepwiseClient(id: "bench", store: store)
        try client.createFunction(id: "sleeper", trigger: .event("bench/sleep")) { event, step in
            try await step.sleepUntil("nap", until: Date(milliseconds: event.data["wake"]?.intValue ?? 0))
            return event.data["wake"] ?? nil
        }
        try await client.registerFunctions()
        let finished = client.subscribe(to: "stepwise/function.finished", bufferSize: runs + 10)
        let worker = client.worker(.init(concurrency: 200, pollInterval: .milliseconds(200)))
        let service = Task { try await worker.run() }
        defer { service.cancel() }

        // Wake times start after every run has had time to fall asleep, spread over the window.
        let start = SystemWallClock().now() + Int64(setupSeconds) * 1000
        let spread = Int64(window * 1000)
        var sent = 0
        while sent < runs {
            let count = min(1000, runs - sent)
            let events = (0..<count).map { offset in
                Event(name: "bench/sleep", data: ["wake": .int(start + spread * Int64(sent + offset) / Int64(runs))])
            }
            try await client.send(events)
            sent += count
        }
        // Wait until every run sleeps.
        while try await hasQueuedOrRunningRuns(store) {
            try await Task.sleep(for: .milliseconds(200))
        }
        guard SystemWallClock().now() < start else {
            throw BenchError("putting \(runs) runs to sleep took longer than the \(setupSeconds) s allowed before the first wake-up")
        }
        let sleeping = residentMegabytes()

        var lateness: [Double] = []
        var iterator = finished.makeAsyncIterator()
        while lateness.count < runs, let event = await iterator.next() {
            if let wake = event.data["output"]?.intValue {
                lateness.append(Double(event.receivedAt - wake))
            }
        }
        reporter.report(Measurement(workload: "sleepers", metric: "rss_idle_mb", value: idle, unit: "MB", baseline: idle, higherIsBetter: false))
        reporter.report(Measurement(workload: "sleepers", metric: "rss_sleeping_mb", value: sleeping, unit: "MB", baseline: idle, higherIsBetter: false))
        reporter.report(Measurement(workload: "sleepers", metric: "wake_lateness_p50_ms", value: percentile(lateness, 0.5), unit: "ms", baseline: 0, higherIsBetter: false))
        reporter.report(Measurement(workload: "sleepers", metric: "wake_lateness_p99_ms", value: percentile(lateness, 0.99), unit: "ms", baseline: 0, higherIsBetter: false))
    }
}

/// `stepwise-bench wait`: latency from `send` of a matching event to the waiting run's next
/// step, with many runs waiting on distinct keys.
struct WaitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Latency from send of a matching event to the waiting run's next step, 10 000 runs waiting (p50, p99)."
    )

    @OptionGroup var options: CommonOptions

    @Option(help: "How many runs wait, each on its own key.")
    var waiters = 10_000

    @Option(help: "How many of them are woken, one at a time, and timed.")
    var samples = 300

    func run() async throws {
        let workspace = try Workspace(directory: options.directory)
        let reporter = Reporter(json: options.json)
        reporter.header("wait (\(waiters) runs waiting, durability \(options.durability.rawValue))")

        let store = try SQLiteStore(.init(path: workspace.freshPath(), durability: options.durability == .full ? .full : .normal))
        let client = StepwiseClient(id: "bench", store: store)
        try client.createFunction(id: "waiter", trigger: .event("bench/order.placed")) { event, step in
            let paid = try await step.waitForEvent("payment", event: "bench/order.paid", timeout: .seconds(3600), match: "data.orderId")
            return try await step.run("ship") { () -> JSON in paid?.data["orderId"] ?? nil }
        }
        try await client.registerFunctions()
        let worker = client.worker(.init(concurrency: 200, pollInterval: .milliseconds(200)))
        let service = Task { try await worker.run() }
        defer { service.cancel() }

        var sent = 0
        while sent < waiters {
            let count = min(1000, waiters - sent)
            try await client.send((0..<count).map { Event(name: "bench/order.placed", data: ["orderId": .string("order-\(sent + $0)")]) })
            sent += count
        }
        while try await hasQueuedOrRunningRuns(store) {
            try await Task.sleep(for: .milliseconds(200))
        }

        let finished = client.subscribe(to: "stepwise/function.finished", bufferSize: samples + 10)
        var iterator = finished.makeAsyncIterator()
        var latencies: [Double] = []
        var raw: [Double] = []
        let rawSQLite = try RawSQLite(path: workspace.freshPath(), synchronous: options.durability == .full ? "FULL" : "NORMAL")
        let generator = ULIDGenerator()
        for index in 0..<samples {
            let orderID = "order-\(index * (waiters / samples))"
            let seconds = try await measure {
                try await client.send(Event(name: "bench/order.paid", data: ["orderId": .string(orderID)]))
                guard await iterator.next() != nil else { throw BenchError("the bus ended") }
            }
            latencies.append(seconds * 1000)
            let clock = ContinuousClock()
            let begin = clock.now
            try rawSQLite.insert([BenchRow(id: generator.next(milliseconds: 1).description, name: "raw", data: "{}", ts: 1)], perTransaction: 1)
            raw.append((clock.now - begin).seconds * 1000)
        }
        reporter.report(Measurement(workload: "wait", metric: "wait_latency_p50_ms", value: percentile(latencies, 0.5), unit: "ms", baseline: percentile(raw, 0.5), higherIsBetter: false))
        reporter.report(Measurement(workload: "wait", metric: "wait_latency_p99_ms", value: percentile(latencies, 0.99), unit: "ms", baseline: percentile(raw, 0.99), higherIsBetter: false))
    }
}

/// The process's resident set, from /proc/self/statm, in megabytes.
func residentMegabytes() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Double(fields[1]) else { return 0 }
    return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
}

/// Whether any run is queued or running (not yet asleep, waiting or ended).
func hasQueuedOrRunningRuns(_ store: some Store) async throws -> Bool {
    for status in [RunStatus.queued, .running] where try await !store.runs(RunQuery(status: status, limit: 1)).isEmpty {
        return true
    }
    return false
}
