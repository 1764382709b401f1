@_spi(StoreImplementation) public import Stepwise

/// Writes that claim: a checkpoint or an append, and the claim after it, committed together,
/// so that a worker's slot or a send's own worker starts its next run without a transaction of
/// its own for the claim (a round trip and a WAL flush, of the four a one-step run otherwise
/// costs: Docs/Benchmarks.md, PostgreSQL).
extension PostgresStore: StoreClaimingWrites {
    public func commit(
        _ checkpoint: RunCheckpoint, thenClaim request: ClaimRequest, handOver: @escaping @Sendable (ClaimingWriteResult) -> Void
    ) async throws -> ClaimingWriteResult {
        let committed = try await commit(checkpoint, claiming: Self.claimsAnything(request) ? request : nil)
        let result = ClaimingWriteResult(outcomes: committed.outcomes, claimed: try await claimedRuns(committed.claimRows, request: request))
        handOver(result)
        Self.publish(committed.stored, to: checkpoint.events?.afterCommit)
        return result
    }

    public func append(
        _ batch: EventBatch, thenClaim request: ClaimRequest, handOver: @escaping @Sendable (ClaimingWriteResult) -> Void
    ) async throws -> [EventAppendOutcome] {
        let appended = try await append(batch, claiming: Self.claimsAnything(request) ? request : nil)
        handOver(ClaimingWriteResult(outcomes: appended.outcomes, claimed: try await claimedRuns(appended.claimRows, request: request)))
        Self.publish(appended.stored, to: batch.afterCommit)
        return appended.outcomes
    }

    /// Whether `request` could claim a run: one for no function or no slot is not sent.
    private static func claimsAnything(_ request: ClaimRequest) -> Bool {
        request.limit > 0 && !request.functionIDs.isEmpty
    }
}
