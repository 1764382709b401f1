@_spi(StoreImplementation) import Stepwise
@testable import StepwisePostgres
import Synchronization
import Testing

/// The batcher alone, with a commit that records what it was given: checkpoints that arrive
/// while batches are in flight go together, each gets its own outcome, and one alone is not
/// held back.
@Suite("PostgreSQL checkpoint batches")
struct PostgresCheckpointBatcherTests {
    static func checkpoint(_ index: Int) -> RunCheckpoint {
        RunCheckpoint(lease: RunLease(runID: RunID(ULIDGenerator.shared.next(milliseconds: 0)), token: Int64(index), owner: "w"), now: 0, steps: [], events: nil, transition: .none)
    }

    @Test("checkpoints that wait for a batch in flight go in the next, each answered with its own outcome")
    func batches() async throws {
        let batcher = PostgresCheckpointBatcher(maxBatches: 1)
        let sizes = Mutex<[Int]>([])
        let commit: @Sendable ([RunCheckpoint]) async -> [PostgresCheckpointBatcher.Outcome] = { batch in
            sizes.withLock { $0.append(batch.count) }
            // Slow enough that the others arrive while the first batch is in flight.
            try? await Task.sleep(for: .milliseconds(50))
            return batch.map { checkpoint in
                checkpoint.lease.token % 5 == 0 ? .success(nil) : .success("environment \(checkpoint.lease.token)")
            }
        }
        let answers = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for index in 0..<40 {
                group.addTask { (index, try await batcher.commit(Self.checkpoint(index), by: commit)) }
            }
            var answers: [Int: String?] = [:]
            for try await (index, answer) in group { answers[index] = answer }
            return answers
        }
        for index in 0..<40 {
            #expect(answers[index] == (index % 5 == 0 ? String?.none : "environment \(index)"), "checkpoint \(index)")
        }
        let batches = sizes.withLock { $0 }
        #expect(batches.reduce(0, +) == 40, "every checkpoint committed once: \(batches)")
        #expect(batches.count < 40 && batches.contains { $0 > 1 }, "checkpoints went together: \(batches)")
    }

    @Test("a checkpoint alone goes at once, and a failed batch fails only its own checkpoints")
    func alone() async throws {
        let batcher = PostgresCheckpointBatcher()
        struct Refused: Error {}
        let answer = try await batcher.commit(Self.checkpoint(1)) { batch in batch.map { _ in .success("default") } }
        #expect(answer == "default")
        await #expect(throws: Refused.self) {
            _ = try await batcher.commit(Self.checkpoint(2)) { batch in batch.map { _ in .failure(Refused()) } }
        }
        // The batcher is free again after a failure.
        #expect(try await batcher.commit(Self.checkpoint(3)) { batch in batch.map { _ in .success("again") } } == "again")
    }
}
