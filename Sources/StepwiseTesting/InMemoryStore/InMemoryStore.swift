@_spi(StoreImplementation) public import Stepwise

/// A ``Store`` that keeps everything in memory: for tests that want the whole engine (fan-out,
/// steps, sleeps, waits, invoke, cron) without a database file, and fast.
///
/// ```swift
/// let clock = ManualClock()
/// let stepwise = StepwiseClient(id: "test", store: InMemoryStore(), configuration: .init(clock: clock))
/// ```
///
/// It keeps the same contract as ``SQLiteStore``, checked by the same conformance suite
/// (``StoreConformance``), and is written against Stepwise's public API alone: every decision
/// (which functions an event triggers, what a wait matches, the system events, run plans, the
/// format of step outputs) is the engine's, asked of ``TriggerIndex``, ``WaitMatching``,
/// ``SystemEvent``, ``NewRun`` and ``StepWrite``, as any store outside the core must.
///
/// An actor: each requirement runs alone, without suspending, so it is one transaction, and
/// concurrent callers see them one after the other. A requirement that throws changes nothing:
/// its changes are journaled and undone. Everything is gone when the store is; one process only.
public actor InMemoryStore: Store {
    var tables = Tables()
    let idGenerator: ULIDGenerator

    /// An empty store.
    ///
    /// - Parameter idGenerator: where event and run ids come from; the process-wide one by
    ///   default, so that ids stay ordered across every store in the process.
    public init(idGenerator: ULIDGenerator = .shared) {
        self.idGenerator = idGenerator
    }
}

/// Why the in-memory store refused a request: a caller's bug, not a rule of the contract.
public enum InMemoryStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A checkpoint asked for something the store cannot do (as ``SQLiteStoreError/invalidCheckpoint(reason:)``).
    case invalidCheckpoint(reason: String)
    /// An id the store was to give a new record is taken already: only a ``ULIDGenerator``
    /// shared with another writer of the same ids, or a seed reused as a generated id, makes one.
    case idTaken(String)
    /// A run names an event the store does not hold. The store never drops an event, so only
    /// a bug makes one; the run fails alone when claimed (DESIGN.md, invariant 7).
    case eventMissing(runID: RunID, eventID: EventID)

    /// The error in words.
    public var description: String {
        switch self {
        case .invalidCheckpoint(let reason): return "invalid checkpoint: \(reason)"
        case .idTaken(let id): return "the id \(id) is taken already"
        case .eventMissing(let runID, let eventID): return "run \(runID) names event \(eventID), which does not exist"
        }
    }
}
