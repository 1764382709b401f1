import ArgumentParser
import Foundation
import InMemoryTracing
import Metrics
import Prometheus
import Stepwise
import Tracing

/// `stepwise-bench steps`: steps per second through the engine, and the latency from `send`
/// to the end of a run, against raw SQLite commits at the same durability.
struct StepsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steps",
        abstract: "Steps per second (sequential, inflight100, runs3_sequential, runs3_inflight100), send-to-finish latency (latency_p50_ms, latency_p99_ms), and what a run costs (writer_transactions_per_run, checkpoint_fsyncs_per_run, cpu_us_per_step)."
    )

    @OptionGroup var options: CommonOptions

    @Option(help: "Runs per round for the sequential metric (a worker running one at a time).")
    var sequentialRuns = 100

    @Option(help: "Runs per round for inflight100 (a worker running 100 at a time).")
    var inflightRuns = 500

    @Option(help: "One-step runs timed for the latency metrics.")
    var latencyRuns = 300

    @Option(help: "Three-step runs per round for runs3_sequential, each sent and awaited one at a time.")
    var runs3SequentialRuns = 200

    @Option(help: "Three-step runs per round for runs3_inflight100, 100 sent and awaited at a time.")
    var runs3InflightRuns = 2000

    @Flag(help: """
        Measure observability_overhead alone: inflight100 with metrics (a Prometheus registry) and tracing (a recording \
        tracer, see --tracer) on, against both off, alternating rounds.
        """)
    var observability = false

    /// The recording backend of `--observability`'s tracing half.
    enum RecordingBackend: String, ExpressibleByArgument, Sendable {
        /// ``RecordingTracer``: every span recorded as an SDK records it, exported in batches
        /// that are counted and dropped.
        case recording
        /// swift-distributed-tracing's `InMemoryTracer`, which keeps every span for good.
        case inMemory = "in-memory"
    }

    @Option(help: "With --observability: the tracer that records (recording: batches counted and dropped, as an exporter; in-memory: InMemoryTracer, keeping every span).")
    var tracer: RecordingBackend = .recording

    /// Which of the two `--observability` turns on, to tell their costs apart.
    enum Observed: String, ExpressibleByArgument, Sendable {
        case both, metrics, tracing
    }

    @Option(help: "With --observability: what is on in the measured half (both, metrics, tracing).")
    var observe: Observed = .both

    struct Line: Codable, Sendable {
        let index: Int
        let label: String
    }

    func run() async throws {
        if options.store == .postgres {
            try await runOnPostgres()
            return
        }
        let workspace = try Workspace(directory: options.directory)
        let reporter = Reporter(json: options.json)
        reporter.header("steps (durability \(options.durability.rawValue), median of \(options.rounds) rounds)")
        if observability {
            try await observabilityOverhead(workspace: workspace, reporter: reporter)
            return
        }

        var sequential: [Double] = []
        var inflight: [Double] = []
        var commitRates: [Double] = []
        var batchedRates: [Double] = []
        var rawCPUPerRow: [Double] = []
        var runs3Rounds: [Runs3Round] = []
        for _ in 0..<options.rounds {
            commitRates.append(try rawCommitRate(count: 1000, workspace: workspace))
            let batched = try rawBatchedInsertRate(count: 20_000, workspace: workspace)
            batchedRates.append(batched.rowsPerSecond)
            rawCPUPerRow.append(batched.cpuMicrosecondsPerRow)
            sequential.append(try await stepsRate(runs: sequentialRuns, inFlight: 1, workspace: workspace))
            inflight.append(try await stepsRate(runs: inflightRuns, inFlight: 100, workspace: workspace))
            runs3Rounds.append(try await runs3Round(workspace: workspace))
        }
        let baseline = median(commitRates)
        reporter.report(Measurement(workload: "steps", metric: "sequential", value: median(sequential), unit: "steps/s", baseline: baseline))
        reporter.report(Measurement(workload: "steps", metric: "inflight100", value: median(inflight), unit: "steps/s", baseline: baseline))
        reporter.report(Measurement(
            workload: "steps", metric: "runs3_sequential", value: median(runs3Rounds.map(\.sequential)), unit: "steps/s", baseline: baseline))
        reporter.report(Measurement(
            workload: "steps", metric: "runs3_inflight100", value: median(runs3Rounds.map(\.inflight)), unit: "steps/s",
            baseline: median(batchedRates)))
        // The commits a three-step run needs: its send, its claim, three steps and its end.
        reporter.report(Measurement(
            workload: "steps", metric: "writer_transactions_per_run", value: median(runs3Rounds.map(\.writerTransactionsPerRun)),
            unit: "commits", baseline: 6, higherIsBetter: false))
        // Against the ceiling: a checkpoint in ten runs.
        reporter.report(Measurement(
            workload: "steps", metric: "checkpoint_fsyncs_per_run", value: median(runs3Rounds.map(\.checkpointFsyncsPerRun)),
            unit: "fsyncs", baseline: 0.1, higherIsBetter: false))
        reporter.report(Measurement(
            workload: "steps", metric: "cpu_us_per_step", value: median(runs3Rounds.map(\.cpuMicrosecondsPerStep)), unit: "µs",
            baseline: median(rawCPUPerRow), higherIsBetter: false))

        let rawLatencies = try rawCommitLatencies(count: latencyRuns, workspace: workspace)
        let latencies = try await sendToFinishLatencies(runs: latencyRuns, workspace: workspace)
        reporter.report(Measurement(
            workload: "steps", metric: "latency_p50_ms", value: percentile(latencies, 0.5), unit: "ms",
            baseline: percentile(rawLatencies, 0.5), higherIsBetter: false))
        reporter.report(Measurement(
            workload: "steps", metric: "latency_p99_ms", value: percentile(latencies, 0.99), unit: "ms",
            baseline: percentile(rawLatencies, 0.99), higherIsBetter: false))
    }

    var durability: SQLiteStore.Durability { options.durability == .full ? .full : .normal }

    /// inflight100 with metrics and tracing recorded (value) and with the no-op defaults
    /// (baseline), alternating which goes first within each round, each on a fresh store, so
    /// that both see the same machine.
    private func observabilityOverhead(workspace: Workspace, reporter: Reporter) async throws {
        var on: [Double] = []
        var off: [Double] = []
        var cpuOn: [Double] = []
        var cpuOff: [Double] = []
        for round in 0..<options.rounds {
            for observed in round % 2 == 0 ? [true, false] : [false, true] {
                let store = try SQLiteStore(.init(path: workspace.freshPath(), durability: durability))
                let recorder = SpanRecorder(backend: tracer)
                let configuration: StepwiseClient.Configuration =
                    observed
                    ? .init(
                        metricsFactory: observe == .tracing ? NOOPMetricsHandler.instance : PrometheusMetricsFactory(registry: PrometheusCollectorRegistry()),
                        tracer: observe == .metrics ? NoOpTracer() : recorder.tracer)
                    : .init(metricsFactory: NOOPMetricsHandler.instance, tracer: NoOpTracer())
                let (rate, cpu) = try await stepsRateAndCPU(
                    runs: inflightRuns, inFlight: 100, engine: try engine(store: store, concurrency: 100, configuration: configuration))
                if observed {
                    on.append(rate)
                    cpuOn.append(cpu)
                    // Every run's span and its ten steps' (children in the send's trace), and
                    // the sends': a tracer that recorded nothing would make the comparison
                    // meaningless.
                    let (spans, children) = recorder.counts
                    if observe != .metrics, spans < inflightRuns * 11 || children < inflightRuns * 11 {
                        throw BenchError("the recording tracer saw \(spans) spans (\(children) with a parent), fewer than the runs' and steps'")
                    }
                } else {
                    off.append(rate)
                    cpuOff.append(cpu)
                }
            }
        }
        reporter.report(Measurement(workload: "steps", metric: "observability_overhead", value: median(on), unit: "steps/s", baseline: median(off)))
        // Not a target: what the rate's ratio comes from, less exposed to the machine's noise.
        reporter.report(Measurement(
            workload: "steps", metric: "observability_cpu_per_step", value: median(cpuOn) * 1e6, unit: "us", baseline: median(cpuOff) * 1e6,
            higherIsBetter: false))
    }

    /// One measurement's tracer and what it recorded.
    private struct SpanRecorder {
        let tracer: any Tracer
        private let readCounts: @Sendable () -> (spans: Int, children: Int)

        init(backend: RecordingBackend) {
            switch backend {
            case .recording:
                let recording = RecordingTracer()
                tracer = recording
                readCounts = {
                    let counts = recording.exporter.counts
                    return (counts.spans, counts.children)
                }
            case .inMemory:
                let inMemory = InMemoryTracer()
                tracer = inMemory
                readCounts = {
                    let finished = inMemory.finishedSpans
                    return (finished.count, finished.count { $0.parentSpanID != nil })
                }
            }
        }

        var counts: (spans: Int, children: Int) { readCounts() }
    }

    /// A client with the benchmark function (10 steps, each returning a small struct) and a
    /// one-step function for latency, and a running worker.
    private func engine(workspace: Workspace, concurrency: Int) throws -> (StepwiseClient, Worker) {
        try engine(store: try SQLiteStore(.init(path: workspace.freshPath(), durability: durability)), concurrency: concurrency)
    }

    /// The benchmark's functions on `store`, and a worker of `concurrency` runs.
    func engine(
        store: any Store, concurrency: Int, configuration: StepwiseClient.Configuration = .init()
    ) throws -> (StepwiseClient, Worker) {
        let client = StepwiseClient(id: "bench", store: store, configuration: configuration)
        try client.createFunction(id: "ten-steps", trigger: .event("bench/ten-steps")) { event, step in
            var last = Line(index: 0, label: "")
            for index in 0..<10 {
                last = try await step.run("step") { Line(index: index, label: "line \(index)") }
            }
            return last.index
        }
        try client.createFunction(id: "one-step", trigger: .event("bench/one-step")) { event, step in
            try await step.run("only") { Line(index: 1, label: "only") }
        }
        try client.createFunction(id: "three-steps", trigger: .event("bench/three-steps")) { event, step in
            var last = Line(index: 0, label: "")
            for index in 0..<3 {
                last = try await step.run("step") { Line(index: index, label: "line \(index)") }
            }
            return last.index
        }
        return (client, client.worker(.init(concurrency: concurrency, pollInterval: .seconds(5))))
    }

    /// Steps per second of a worker running `runs` runs of ten steps, `inFlight` at a time.
    ///
    /// The events are sent before the clock starts (sending is `ingest`'s to measure), so
    /// the timed part is the engine alone: claiming, replaying, checkpointing each step, and
    /// ending each run.
    private func stepsRate(runs: Int, inFlight: Int, workspace: Workspace) async throws -> Double {
        try await stepsRate(runs: runs, inFlight: inFlight, engine: try engine(workspace: workspace, concurrency: inFlight))
    }

    func stepsRate(runs: Int, inFlight: Int, engine: (StepwiseClient, Worker)) async throws -> Double {
        try await stepsRateAndCPU(runs: runs, inFlight: inFlight, engine: engine).rate
    }

    /// Steps per second, and the process's CPU time (user and system, every thread) per step
    /// while the clock ran: on a machine shared with other work the rate swings with what
    /// else runs, while the CPU a step costs barely does.
    func stepsRateAndCPU(runs: Int, inFlight: Int, engine: (StepwiseClient, Worker)) async throws -> (rate: Double, cpuPerStep: Double) {
        let (client, worker) = engine
        try await client.registerFunctions()
        var sent = 0
        while sent < runs {
            let count = min(1000, runs - sent)
            try await client.send(Array(repeating: Event(name: "bench/ten-steps"), count: count))
            sent += count
        }
        let finished = client.subscribe(to: "stepwise/function.finished", bufferSize: 100_000)
        var iterator = finished.makeAsyncIterator()
        var service: Task<Void, any Error>?
        let cpuStart = processCPUSeconds()
        var cpuEnd = cpuStart
        let seconds = try await measure {
            service = Task { try await worker.run() }
            for _ in 0..<runs {
                guard await iterator.next() != nil else { throw BenchError("the bus ended") }
            }
            cpuEnd = processCPUSeconds()
        }
        service?.cancel()
        // Ended before anyone counts what the run recorded: a run's span ends just after its
        // `function.finished` is published.
        _ = await service?.result
        if finished.droppedCount > 0 { throw BenchError("the bench subscriber dropped events") }
        return (Double(runs * 10) / seconds, (cpuEnd - cpuStart) / Double(runs * 10))
    }

    private func sendToFinishLatencies(runs: Int, workspace: Workspace) async throws -> [Double] {
        try await sendToFinishLatencies(runs: runs, engine: try engine(workspace: workspace, concurrency: 16))
    }

    func sendToFinishLatencies(runs: Int, engine: (StepwiseClient, Worker)) async throws -> [Double] {
        let (client, worker) = engine
        try await client.registerFunctions()
        let finished = client.subscribe(to: "stepwise/function.finished", bufferSize: 100_000)
        let service = Task { try await worker.run() }
        defer { service.cancel() }
        var iterator = finished.makeAsyncIterator()
        var latencies: [Double] = []
        for _ in 0..<runs {
            let seconds = try await measure {
                try await client.send(Event(name: "bench/one-step"))
                guard await iterator.next() != nil else { throw BenchError("the bus ended") }
            }
            latencies.append(seconds * 1000)
        }
        return latencies
    }

    private func rawCommitRate(count: Int, workspace: Workspace) throws -> Double {
        let raw = try RawSQLite(path: workspace.freshPath(), synchronous: durability.rawValue)
        let rows = benchRows(count)
        let clock = ContinuousClock()
        let start = clock.now
        try raw.insert(rows, perTransaction: 1)
        return Double(count) / (clock.now - start).seconds
    }

    private func rawCommitLatencies(count: Int, workspace: Workspace) throws -> [Double] {
        let raw = try RawSQLite(path: workspace.freshPath(), synchronous: durability.rawValue)
        let clock = ContinuousClock()
        return try benchRows(count).map { row in
            let start = clock.now
            try raw.insert([row], perTransaction: 1)
            return (clock.now - start).seconds * 1000
        }
    }

    func benchRows(_ count: Int) -> [BenchRow] {
        let generator = ULIDGenerator()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let data = JSON.object(["index": 1, "label": "line 1"]).serialized
        return (0..<count).map { _ in BenchRow(id: generator.next(milliseconds: now).description, name: "bench/step", data: data, ts: now) }
    }
}

func percentile(_ values: [Double], _ fraction: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let index = min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)
    return sorted[max(0, index)]
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// CPU time the process has used so far, user and system, in seconds.
func processCPUSeconds() -> Double {
    var usage = rusage()
    #if canImport(Glibc)
    // Glibc imports `RUSAGE_SELF` as a case of an enum, Darwin as an integer.
    let who = RUSAGE_SELF.rawValue
    #else
    let who = RUSAGE_SELF
    #endif
    guard getrusage(who, &usage) == 0 else { return 0 }
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
