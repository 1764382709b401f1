import Foundation
import Stepwise
import Synchronization

/// The metrics of issue 15: three-step runs each sent and awaited to its end, one at a time
/// and 100 at a time, with what a run costs the writer, the disk and the CPU.
extension StepsCommand {
    /// What the runs3 workloads measured in one round.
    struct Runs3Round {
        var sequential: Double
        var inflight: Double
        var writerTransactionsPerRun: Double
        var checkpointFsyncsPerRun: Double
        var cpuMicrosecondsPerStep: Double
    }

    /// One round of runs3_sequential and runs3_inflight100, each on a fresh store.
    func runs3Round(workspace: Workspace) async throws -> Runs3Round {
        let sequential = try await runs3(runs: runs3SequentialRuns, inFlight: 1, workspace: workspace)
        let inflight = try await runs3(runs: runs3InflightRuns, inFlight: 100, workspace: workspace)
        return Runs3Round(
            sequential: sequential.stepsPerSecond, inflight: inflight.stepsPerSecond,
            writerTransactionsPerRun: Double(sequential.transactions) / Double(runs3SequentialRuns),
            // Each checkpoint that copies frames syncs the WAL, then the database file.
            checkpointFsyncsPerRun: Double(sequential.checkpoints * 2) / Double(runs3SequentialRuns),
            cpuMicrosecondsPerStep: inflight.cpuMicroseconds / Double(runs3InflightRuns * 3))
    }

    struct Runs3Result {
        let stepsPerSecond: Double
        let transactions: Int
        let checkpoints: Int
        let cpuMicroseconds: Double
    }

    /// `runs` three-step runs, `inFlight` at a time: each lane sends an event and waits until
    /// its run has finished, then sends the next, so that the timed part is the whole of a
    /// run's life, from `send` to its end, as an app sees it.
    func runs3(runs: Int, inFlight: Int, workspace: Workspace) async throws -> Runs3Result {
        let transactions = Atomic<Int>(0)
        let store = try SQLiteStore(
            .init(path: workspace.freshPath(), durability: durability),
            commitObserver: { _ in transactions.add(1, ordering: .relaxed) })
        let (client, worker) = try engine(store: store, concurrency: inFlight)
        try await client.registerFunctions()
        let waiter = FinishWaiter()
        let finished = client.subscribe(to: "stepwise/function.finished", bufferSize: 100_000)
        let listener = Task {
            for await event in finished {
                if let id = event.data["event"]?["id"]?.stringValue { waiter.finished(id) }
            }
        }
        let service = Task { try await worker.run() }
        defer {
            service.cancel()
            listener.cancel()
        }
        // One run first, so that the worker is up and the function's statements are prepared.
        await waiter.wait(for: try await client.send(Event(name: "bench/three-steps")).description)

        let transactionsBefore = transactions.load(ordering: .relaxed)
        let checkpointsBefore = store.checkpointsCopyingFrames
        let cpuBefore = processCPUSeconds() * 1e6
        let seconds = try await measure {
            try await Self.sendAndAwait(runs: runs, lanes: inFlight, client: client, waiter: waiter)
        }
        let cpu = processCPUSeconds() * 1e6 - cpuBefore
        if finished.droppedCount > 0 { throw BenchError("the bench subscriber dropped events") }
        return Runs3Result(
            stepsPerSecond: Double(runs * 3) / seconds,
            transactions: transactions.load(ordering: .relaxed) - transactionsBefore,
            checkpoints: store.checkpointsCopyingFrames - checkpointsBefore, cpuMicroseconds: cpu)
    }

    /// Sends `runs` events from `lanes` tasks, each sending the next once its last run ended.
    private static func sendAndAwait(runs: Int, lanes: Int, client: StepwiseClient, waiter: FinishWaiter) async throws {
        let remaining = RunsLeft(runs)
        try await withThrowingDiscardingTaskGroup { group in
            for _ in 0..<lanes {
                group.addTask {
                    while remaining.take() {
                        await waiter.wait(for: try await client.send(Event(name: "bench/three-steps")).description)
                    }
                }
            }
        }
    }

    /// Raw one-row inserts in transactions of 100 rows, rows per second, and the CPU each
    /// row took: the baselines of runs3_inflight100 and cpu_us_per_step.
    func rawBatchedInsertRate(count: Int, workspace: Workspace) throws -> (rowsPerSecond: Double, cpuMicrosecondsPerRow: Double) {
        let raw = try RawSQLite(path: workspace.freshPath(), synchronous: durability.rawValue)
        let rows = benchRows(count)
        let clock = ContinuousClock()
        let cpuBefore = processCPUSeconds() * 1e6
        let start = clock.now
        try raw.insert(rows, perTransaction: 100)
        let seconds = (clock.now - start).seconds
        return (Double(count) / seconds, (processCPUSeconds() * 1e6 - cpuBefore) / Double(count))
    }
}

/// The runs the lanes have yet to send.
final class RunsLeft: Sendable {
    private let count: Atomic<Int>

    init(_ count: Int) { self.count = Atomic(count) }

    /// Whether one more is to be sent, taking it.
    func take() -> Bool { count.subtract(1, ordering: .relaxed).newValue >= 0 }
}

/// Lets a task wait for the end of the run its event started, told by the bus listener:
/// the end may be told before the wait begins.
final class FinishWaiter: Sendable {
    private enum Slot {
        case waiting(CheckedContinuation<Void, Never>)
        case finished
    }

    private let slots = Mutex<[String: Slot]>([:])

    func finished(_ eventID: String) {
        let waiting = slots.withLock { slots -> CheckedContinuation<Void, Never>? in
            if case .waiting(let continuation)? = slots.removeValue(forKey: eventID) { return continuation }
            slots[eventID] = .finished
            return nil
        }
        waiting?.resume()
    }

    func wait(for eventID: String) async {
        await withCheckedContinuation { continuation in
            let done = slots.withLock { slots -> Bool in
                if case .finished? = slots.removeValue(forKey: eventID) { return true }
                slots[eventID] = .waiting(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}
