import Synchronization

/// What a `send` needs of a worker in its process to claim runs for it in the send's own
/// transaction (``StoreClaimingWrites/append(_:thenClaim:handOver:)``).
///
/// Without it, a sent event reaches its run through three hops and two commits: the send's
/// commit, the worker woken by it, the worker's claim (another trip to the store's writer),
/// and only then the run. A send that claims starts the run from its own commit (issue 15).
struct SendClaimer: Sendable {
    /// The most runs the worker executes at once: no send claims more.
    let concurrency: Int
    /// Reserves up to `wanted` of the worker's free slots and says what to claim for them, or
    /// `nil` when none is free (or the worker is stopping).
    let reserve: @Sendable (_ wanted: Int) -> ClaimRequest?
    /// Takes what the send claimed under `request`: the runs, to execute, and the slots not
    /// used. Called on the store's thread, once committed and before the events are published.
    let handOver: @Sendable (_ result: ClaimingWriteResult, _ request: ClaimRequest) -> Void
    /// Gives back the slots `request` reserved, when the send failed.
    let cancel: @Sendable (_ request: ClaimRequest) -> Void
}

/// The worker a client's sends claim for: the first started of the client's workers that is
/// still running (a process runs one, as a rule).
final class SendClaimers: Sendable {
    private let claimers = Mutex<[(id: Int, claimer: SendClaimer)]>([])
    private let nextID = Atomic<Int>(0)

    /// The claimer sends use now, if any worker is running.
    var current: SendClaimer? { claimers.withLock { $0.first?.claimer } }

    /// Adds a running worker's claimer; returns the id to remove it with.
    func add(_ claimer: SendClaimer) -> Int {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        claimers.withLock { $0.append((id, claimer)) }
        return id
    }

    func remove(_ id: Int) {
        claimers.withLock { $0.removeAll { $0.id == id } }
    }
}

/// What a worker's slot claims in the checkpoint that lets its run go
/// (``StoreClaimingWrites/commit(_:thenClaim:handOver:)``).
struct NextRunClaim: Sendable {
    /// The claim to make, asked when the checkpoint is made (its `now`), or `nil` once the
    /// worker is stopping.
    let request: @Sendable () -> ClaimRequest?
    /// Told what the checkpoint claimed, on the store's thread, before its events are
    /// published: the runs themselves come back to the slot as the commit's result.
    let handOver: @Sendable (_ result: ClaimingWriteResult, _ request: ClaimRequest) -> Void
}
