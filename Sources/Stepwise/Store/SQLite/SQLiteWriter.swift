import Dispatch
import Synchronization

/// The one writing connection of a store, which commits the writes of concurrent callers
/// together (group commit).
///
/// Each write is a closure over the connection. Writes that arrive while a transaction is
/// being committed wait in a queue; when the commit is done, the writer takes all of them
/// (up to ``maximumBatch``) into the next transaction: `BEGIN IMMEDIATE`, each write in a
/// savepoint of its own, `COMMIT`. One fsync then makes many callers' writes durable, which
/// is what lets throughput grow with concurrency instead of being one fsync per write.
///
/// A write that throws is rolled back to its savepoint and fails alone; the others in its
/// transaction commit. No caller is resumed before the `COMMIT` that holds its write has
/// returned, so a write that returned is durable (to the configured `synchronous` level).
///
/// `@unchecked Sendable` is safe: the connection is used only on the serial `queue`, and
/// the pending writes are guarded by a `Mutex`.
final class SQLiteWriter: @unchecked Sendable {
    /// The most writes one transaction takes, so that a flood of writes still commits (and
    /// resumes its callers) in steps of bounded size.
    static let maximumBatch = 512

    /// How long the writer keeps looking for the next write before parking its thread.
    static let spinAfterCommit = Duration.microseconds(200)
    /// Spins in a row that may find nothing before the writer stops spinning.
    static let spinMissesTolerated = 16
    /// While not spinning, one commit in this many spins anyway, to see whether writes came
    /// back to a fast pace.
    static let spinRetryEvery = 32

    /// A write waiting for its transaction. `run` does the work and returns what to do after
    /// the commit (resume the caller with the value); `fail` resumes the caller with an error.
    private struct PendingWrite: Sendable {
        let run: @Sendable (SQLiteConnection) throws -> @Sendable () -> Void
        let fail: @Sendable (any Error) -> Void
    }

    private struct State {
        var pending: [PendingWrite] = []
        var draining = false
        var closed = false
        /// Spins in a row that found no write; see `drain()`.
        var spinMisses = 0
        /// Commits so far, to retry spinning every so often.
        var spells = 0
    }

    private let queue: DispatchQueue
    private let connection: SQLiteConnection
    private let state = Mutex(State())
    /// Observes each transaction's size; tests use it to see group commit happen.
    private let commitObserver: (@Sendable (_ writes: Int) -> Void)?
    /// Takes WAL checkpoints off this thread, for file databases.
    private let checkpointer: SQLiteCheckpointer?

    init(
        label: String, connection: SQLiteConnection, checkpointer: SQLiteCheckpointer? = nil,
        commitObserver: (@Sendable (Int) -> Void)? = nil
    ) {
        self.queue = DispatchQueue(label: label)
        self.connection = connection
        self.checkpointer = checkpointer
        self.commitObserver = commitObserver
        checkpointer?.install(on: connection)
    }

    /// Runs `body` on the writer queue, outside the group-commit loop, and waits for it:
    /// for opening and migrating, which manage their own transactions.
    func sync<Value>(_ body: (SQLiteConnection) throws -> Value) throws -> Value {
        try queue.sync { try body(connection) }
    }

    /// Runs `body` inside a write transaction shared with other concurrent writes, and
    /// returns its value once that transaction has committed.
    ///
    /// - Parameter afterCommit: called on the writer queue right after the commit, before any
    ///   caller is resumed and before the next transaction begins: in commit order.
    func write<Value: Sendable>(
        _ body: @escaping @Sendable (SQLiteConnection) throws -> Value,
        afterCommit: (@Sendable (Value) -> Void)? = nil
    ) async throws -> Value {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            let write = PendingWrite(
                run: { connection in
                    let value = try body(connection)
                    return {
                        afterCommit?(value)
                        continuation.resume(returning: value)
                    }
                },
                fail: { continuation.resume(throwing: $0) }
            )
            enqueue(write)
        }
    }

    private func enqueue(_ write: PendingWrite) {
        let startDraining = state.withLock { state -> Bool? in
            if state.closed { return nil }
            state.pending.append(write)
            if state.draining { return false }
            state.draining = true
            return true
        }
        switch startDraining {
        case nil:
            write.fail(SQLiteError(code: 21 /* SQLITE_MISUSE */, message: "the store is closed", sql: nil))
        case true?:
            queue.async { self.drain() }
        case false?:
            break
        }
    }

    /// Commits batches until no write is waiting.
    private func drain() {
        let clock = ContinuousClock()
        while true {
            // A caller resumed by the last commit often writes again within microseconds
            // (the next step of a run): wait for it briefly here rather than park the thread
            // and pay for waking it, which on a small VM costs as much as a third of an
            // fsync'd commit (measured: sequential commits went from 0.69 to 0.82 of raw
            // SQLite's rate). The cost is at most this much CPU after each busy spell.
            //
            // Spinning pays only while writes do come back that fast. When they come from
            // farther away (over HTTP: a response, a client, a request), the spin finds
            // nothing and takes a core from the very threads preparing the next write, so
            // after sixteen misses in a row the writer stops spinning, and tries again now and
            // then to notice when the pace changes.
            let shouldSpin = state.withLock { state in
                state.spells &+= 1
                return state.spinMisses < Self.spinMissesTolerated || state.spells % Self.spinRetryEvery == 0
            }
            if shouldSpin {
                let spinUntil = clock.now + Self.spinAfterCommit
                while state.withLock({ $0.pending.isEmpty }) && clock.now < spinUntil {}
                state.withLock { state in state.spinMisses = state.pending.isEmpty ? state.spinMisses + 1 : 0 }
            }
            let batch = state.withLock { state -> [PendingWrite] in
                if state.pending.isEmpty {
                    state.draining = false
                    return []
                }
                let count = min(state.pending.count, Self.maximumBatch)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                return batch
            }
            if batch.isEmpty { return }
            commit(batch)
        }
    }

    private func commit(_ batch: [PendingWrite]) {
        do {
            try connection.run("BEGIN IMMEDIATE")
        } catch {
            for write in batch { write.fail(error) }
            return
        }
        var completions: [@Sendable () -> Void] = []
        var failures: [(PendingWrite, any Error)] = []
        completions.reserveCapacity(batch.count)
        let isolate = batch.count > 1
        for write in batch {
            do {
                if isolate { try connection.run("SAVEPOINT stepwise_write") }
                let completion = try write.run(connection)
                if isolate { try connection.run("RELEASE stepwise_write") }
                completions.append(completion)
            } catch {
                if isolate {
                    do {
                        try connection.run("ROLLBACK TO stepwise_write")
                        try connection.run("RELEASE stepwise_write")
                    } catch {
                        abandon(batch, error: error)
                        return
                    }
                    failures.append((write, error))
                } else {
                    abandon(batch, error: error)
                    return
                }
            }
        }
        do {
            try connection.run("COMMIT")
        } catch {
            abandon(batch, error: error)
            return
        }
        commitObserver?(completions.count)
        checkpointer?.walDidGrow()
        for completion in completions { completion() }
        for (write, error) in failures { write.fail(error) }
    }

    /// Rolls the transaction back and fails every write in it with `error`.
    private func abandon(_ batch: [PendingWrite], error: any Error) {
        if connection.isInTransaction {
            _ = try? connection.run("ROLLBACK")
        }
        for write in batch { write.fail(error) }
    }

    /// Refuses new writes; the writes already waiting still commit.
    func close() {
        state.withLock { $0.closed = true }
    }
}
