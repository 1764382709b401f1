/// A store that can claim due runs in the transaction of a run's checkpoint.
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
    /// When the fence refuses the checkpoint this throws ``LeaseLostError`` and claims
    /// nothing; any other error means neither the checkpoint nor the claim took place.
    ///
    /// - Returns: the outcomes of `checkpoint.events`, in order, and the runs claimed.
    func commit(_ checkpoint: RunCheckpoint, thenClaim request: ClaimRequest) async throws -> ClaimingWriteResult
}

/// What a checkpoint that claims (``StoreClaimingWrites``) did.
public struct ClaimingWriteResult: Sendable {
    /// The outcomes of the checkpoint's events, in order.
    public let outcomes: [EventAppendOutcome]
    /// The runs claimed after the checkpoint, in the transaction that committed it.
    public let claimed: [ClaimedRun]

    public init(outcomes: [EventAppendOutcome], claimed: [ClaimedRun]) {
        self.outcomes = outcomes
        self.claimed = claimed
    }
}
