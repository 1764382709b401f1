import ArgumentParser
import Foundation
import Stepwise
import StepwisePostgres
import Synchronization

/// `stepwise-bench steps --store postgres`: the same workloads on PostgreSQL, each next to
/// raw one-row INSERT commits made by this binary over postgres-nio in the same run (one
/// connection for `sequential` and the latencies, sixteen for `inflight100`), and the time
/// from `send` in this process to the run's first step in another.
extension StepsCommand {
    func runOnPostgres() async throws {
        let server = try BenchPostgres(url: options.postgresURL)
        defer { server.stop() }
        let reporter = Reporter(json: options.json)
        reporter.header("steps on PostgreSQL (durability \(options.durability.rawValue), median of \(options.rounds) rounds)")
        let durability = options.durability

        var sequential: [Double] = [], inflight: [Double] = [], oneConnection: [Double] = [], sixteen: [Double] = []
        for _ in 0..<options.rounds {
            oneConnection.append(try await server.rawCommitRate(rows: 1000, connections: 1, durability: durability))
            sequential.append(try await server.withStore(durability: durability) { store in
                try await stepsRate(runs: sequentialRuns, inFlight: 1, engine: try engine(store: store, concurrency: 1))
            })
            sixteen.append(try await server.rawCommitRate(rows: 4000, connections: 16, durability: durability))
            inflight.append(try await server.withStore(durability: durability) { store in
                try await stepsRate(runs: inflightRuns, inFlight: 100, engine: try engine(store: store, concurrency: 100))
            })
        }
        reporter.report(Measurement(
            workload: "steps", metric: "sequential", value: median(sequential), unit: "steps/s", baseline: median(oneConnection)))
        reporter.report(Measurement(
            workload: "steps", metric: "inflight100", value: median(inflight), unit: "steps/s", baseline: median(sixteen)))

        let rawLatencies = try await server.rawCommitLatencies(count: latencyRuns, durability: durability)
        let latencies = try await server.withStore(durability: durability) { store in
            try await sendToFinishLatencies(runs: latencyRuns, engine: try engine(store: store, concurrency: 16))
        }
        reporter.report(Measurement(
            workload: "steps", metric: "latency_p50_ms", value: percentile(latencies, 0.5), unit: "ms",
            baseline: percentile(rawLatencies, 0.5), higherIsBetter: false))
        reporter.report(Measurement(
            workload: "steps", metric: "latency_p99_ms", value: percentile(latencies, 0.99), unit: "ms",
            baseline: percentile(rawLatencies, 0.99), higherIsBetter: false))

        let wakes = try await crossProcessWakes(server: server, count: 200)
        reporter.report(Measurement(
            workload: "steps", metric: "cross_process_wake_p50_ms", value: percentile(wakes, 0.5), unit: "ms",
            baseline: percentile(rawLatencies, 0.5), higherIsBetter: false))
        reporter.report(Measurement(
            workload: "steps", metric: "cross_process_wake_p99_ms", value: percentile(wakes, 0.99), unit: "ms",
            baseline: percentile(rawLatencies, 0.99), higherIsBetter: false))
    }

    /// Milliseconds from `send` here to the first step of its run in a worker process of its
    /// own (`stepwise-bench wake-worker`), whose poll interval is an hour: only the change
    /// feed can wake it in time. Both read the same machine's clock.
    private func crossProcessWakes(server: BenchPostgres, count: Int) async throws -> [Double] {
        try await server.withStore(durability: options.durability) { store in
            let child = Process()
            child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
            child.arguments = ["wake-worker", "--postgres-url", server.url, "--schema", store.configuration.schema]
            let output = Pipe()
            child.standardOutput = output
            child.standardError = FileHandle.standardError
            try child.run()
            defer { child.terminate() }
            var iterator = Self.lines(of: output.fileHandleForReading).makeAsyncIterator()
            guard await iterator.next() == "ready" else { throw BenchError("the wake worker did not start") }
            let client = StepwiseClient(id: "bench-sender", store: store)
            var wakes: [Double] = []
            for _ in 0..<count {
                let sentAt = Date().timeIntervalSince1970 * 1000
                try await client.send(Event(name: "bench/wake", data: ["sentAt": .double(sentAt)]))
                guard let line = await iterator.next(), let startedAt = Double(line) else {
                    throw BenchError("the wake worker stopped answering")
                }
                wakes.append(startedAt - sentAt)
            }
            return wakes
        }
    }

    /// The lines a child writes to a pipe, as they come (Foundation on Linux has no
    /// `FileHandle.bytes`).
    private static func lines(of handle: FileHandle) -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        let pending = Mutex(Data())
        handle.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                continuation.finish()
                return
            }
            let lines = pending.withLock { pending -> [String] in
                pending.append(data)
                var lines: [String] = []
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    lines.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                    pending.removeSubrange(pending.startIndex...newline)
                }
                return lines
            }
            for line in lines { continuation.yield(line) }
        }
        return stream
    }
}

/// `stepwise-bench wake-worker`: the other process of `cross_process_wake`: a worker on the
/// schema it is given that prints, for each run, when its first step began (milliseconds
/// since the epoch), one per line.
struct WakeWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wake-worker", abstract: "The second process of the cross-process wake-up metric.", shouldDisplay: false)

    @Option var postgresURL: String
    @Option var schema: String

    func run() async throws {
        var configuration = try PostgresStore.Configuration(url: postgresURL)
        configuration.schema = schema
        let store = try PostgresStore(configuration, logger: BenchPostgres.quietLogger)
        let client = StepwiseClient(id: "bench-waker", store: store)
        try client.createFunction(id: "wake", trigger: .event("bench/wake")) { event, step in
            let startedAt = Date().timeIntervalSince1970 * 1000
            FileHandle.standardOutput.write(Data((String(format: "%.3f", startedAt) + "\n").utf8))
            try await step.perform("noted") {}
        }
        let worker = client.worker(.init(concurrency: 4, pollInterval: .seconds(3600)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            try await store.waitUntilReady()
            try await client.registerFunctions()
            group.addTask { try await worker.run() }
            // Give the worker its first look at the store and its change feed subscription.
            try await Task.sleep(for: .milliseconds(500))
            FileHandle.standardOutput.write(Data("ready\n".utf8))
            try await group.next()
        }
    }
}
