/// A store that can claim due runs in the transaction of a write: a run's checkpoint, or an
/// append.
///
/// A worker's slot, once its run has left `running` (ended, gone to sleep, to a wait, or to a
/// retry), looks for the next due run at once. Alone, that look is a transaction of its own:
/// on SQLite another trip to the single writer and another commit, which with runs sent one at
/// a time almost always finds nothing, and with many in flight is one commit in six of a
/// three-step run's (issue 15, Docs/Benchmarks.md). Asked in the checkpoint's own transaction,
/// it costs neither. A store without it is served by ``Store/commit(_:)`` then
/// ``Store/claim(_:)``.
public protocol StoreClaimingWrites: Store {
    /// Commits `checkpoint` as ``Store/commit(_:)`` does, then, in the same transaction,
    /// claims as ``Store/claim(_:)`` does for `request`: the claim sees everything the
    /// checkpoint changed (the run it let go of, the runs its events started, the runs whose
    /// concurrency slot it freed).
    ///
    /// Once committed, and before the checkpoint's events' `afterCommit`, the store calls
    /// `handOver` with the result, as ``append(_:thenClaim:handOver:)`` does: a worker learns
    /// that nothing was left due before it is told of the events.
    ///
    /// When the fence refuses the checkpoint this throws ``LeaseLostError`` and claims
    /// nothing; any other error means neither the checkpoint nor the claim took place. Either
    /// way `handOver` is not called.
    ///
    /// - Returns: the outcomes of `checkpoint.events`, in order, and the runs claimed.
    func commit(
        _ checkpoint: RunCheckpoint, thenClaim request: ClaimRequest, handOver: @escaping @Sendable (ClaimingWriteResult) -> Void
    ) async throws -> ClaimingWriteResult

    /// Appends `batch` as ``Store/append(_:)`` does, then, in the same transaction, claims as
    /// ``Store/claim(_:)`` does for `request`: the claim sees the runs the batch started and
    /// the waits it resolved. Once committed, and before the batch's `afterCommit`, the store
    /// calls `handOver` with what was claimed, so that whoever executes the runs has them
    /// before anyone told of the events looks for them.
    ///
    /// A `send` from a process whose worker has free slots claims this way: the run starts
    /// without another trip to the store, and the worker is not woken to claim what the send
    /// claimed already. If the call throws, nothing was appended or claimed, and `handOver`
    /// is not called.
    ///
    /// - Returns: the outcomes of the batch, in order.
    func append(
        _ batch: EventBatch, thenClaim request: ClaimRequest, handOver: @escaping @Sendable (ClaimingWriteResult) -> Void
    ) async throws -> [EventAppendOutcome]
}

/// What a write that claims (``StoreClaimingWrites``) did.
public struct ClaimingWriteResult: Sendable {
    /// The outcomes of the write's events (the batch's, or the checkpoint's), in order.
    public let outcomes: [EventAppendOutcome]
    /// The runs claimed after the write, in the transaction that committed it.
    public let claimed: [ClaimedRun]

    public init(outcomes: [EventAppendOutcome], claimed: [ClaimedRun]) {
        self.outcomes = outcomes
        self.claimed = claimed
    }
}
