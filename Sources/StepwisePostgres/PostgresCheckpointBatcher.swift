import Synchronization
@_spi(StoreImplementation) import Stepwise

/// Step checkpoints of many runs, committed together: with a hundred runs in flight, each
/// step is otherwise a statement, a round trip and a commit of its own, and on a machine the
/// server shares with the app those per-statement costs are most of a step's (Docs/Benchmarks.md,
/// PostgreSQL).
///
/// No timer and no waiting for company: a checkpoint that finds fewer than `maxBatches`
/// batches in flight goes at once, alone if it is alone (a run sent by itself is not slowed);
/// one that finds them all busy waits, and the next batch takes every checkpoint waiting then.
/// The leader of a batch, once done, hands its turn to the first checkpoint still waiting,
/// which takes the others with it: no task of its own, every batch run by a caller.
final class PostgresCheckpointBatcher: Sendable {
    typealias Outcome = Result<String?, any Error>

    private enum Turn {
        case done(Outcome)
        case lead
    }

    private struct Waiting {
        let checkpoint: RunCheckpoint
        let continuation: CheckedContinuation<Turn, Never>
    }

    private struct State {
        var waiting: [Waiting] = []
        var leading = 0
    }

    private let state = Mutex(State())
    /// Batches in flight at once: two, so that one is built and sent while another commits.
    let maxBatches: Int
    /// The most checkpoints a batch takes; those left wait for the next.
    let maxBatchSize: Int

    init(maxBatches: Int = 2, maxBatchSize: Int = 128) {
        self.maxBatches = maxBatches
        self.maxBatchSize = maxBatchSize
    }

    /// Commits `checkpoint`, alone or in a batch, by `commit`, which is given the batch (this
    /// checkpoint first) and returns each one's outcome in its order: the run's environment,
    /// or `nil` where its fence refused it.
    func commit(_ checkpoint: RunCheckpoint, by commit: ([RunCheckpoint]) async -> [Outcome]) async throws -> String? {
        let leadsNow = state.withLock { state in
            guard state.leading < maxBatches else { return false }
            state.leading += 1
            return true
        }
        let turn: Turn
        if leadsNow {
            turn = .lead
        } else {
            turn = await withCheckedContinuation { continuation in
                let leads = state.withLock { state in
                    // A batch ended between the two looks: lead one now, rather than wait
                    // for a turn that nobody will hand over.
                    if state.leading < maxBatches {
                        state.leading += 1
                        return true
                    }
                    state.waiting.append(Waiting(checkpoint: checkpoint, continuation: continuation))
                    return false
                }
                if leads { continuation.resume(returning: .lead) }
            }
        }
        switch turn {
        case .done(let outcome):
            return try outcome.get()
        case .lead:
            let others = state.withLock { state in
                let taken = Array(state.waiting.prefix(maxBatchSize - 1))
                state.waiting.removeFirst(taken.count)
                return taken
            }
            let outcomes = await commit([checkpoint] + others.map(\.checkpoint))
            for (index, other) in others.enumerated() {
                other.continuation.resume(returning: .done(outcomes[index + 1]))
            }
            let next = state.withLock { state -> Waiting? in
                guard !state.waiting.isEmpty else {
                    state.leading -= 1
                    return nil
                }
                return state.waiting.removeFirst()
            }
            next?.continuation.resume(returning: .lead)
            return try outcomes[0].get()
        }
    }
}
