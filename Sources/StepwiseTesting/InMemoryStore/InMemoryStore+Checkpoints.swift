@_spi(StoreImplementation) public import Stepwise

/// Checkpoints: steps, events and a run transition, in one transaction fenced by the lease.
extension InMemoryStore: StoreClaimingWrites {
    /// Commits the checkpoint whole if its lease is still the run's and the run is running;
    /// otherwise throws ``LeaseLostError`` having changed nothing.
    public func commit(_ checkpoint: RunCheckpoint) async throws -> [EventAppendOutcome] {
        var stored: [StoredEvent] = []
        let outcomes = try write { transaction in
            transaction.now = checkpoint.now
            return try transaction.commit(checkpoint, stored: &stored)
        }
        Self.publish(stored, to: checkpoint.events?.afterCommit)
        return outcomes
    }

    /// The checkpoint, then the claim, in one transaction.
    public func commit(
        _ checkpoint: RunCheckpoint, thenClaim request: ClaimRequest, handOver: @escaping @Sendable (ClaimingWriteResult) -> Void
    ) async throws -> ClaimingWriteResult {
        try writeThenClaim(at: checkpoint.now, request, afterCommit: checkpoint.events?.afterCommit, handOver: handOver) { transaction, stored in
            try transaction.commit(checkpoint, stored: &stored)
        }
    }
}

extension InMemoryStore.Transaction {
    /// The body of a checkpoint: the fence first, so that a worker that lost its lease changes
    /// nothing; then the events (as an append), the run they start, the steps and the
    /// transition, in the order ``Store/commit(_:)`` gives.
    mutating func commit(_ checkpoint: RunCheckpoint, stored: inout [StoredEvent]) throws -> [EventAppendOutcome] {
        let lease = checkpoint.lease
        guard let run = tables.runs[lease.runID], run.leaseToken == lease.token, run.status == .running else {
            throw LeaseLostError(runID: lease.runID)
        }
        var outcomes: [EventAppendOutcome] = []
        if let events = checkpoint.events {
            outcomes = try appendEvents(events, stored: &stored)
        }
        if let started = checkpoint.startsRun {
            let accepted = outcomes.compactMap { $0.accepted?.id }
            guard !accepted.isEmpty else {
                throw InMemoryStoreError.invalidCheckpoint(reason: "a checkpoint that starts a run must append at least one new event")
            }
            insertRun(started, environment: run.environment, eventIDs: accepted)
        }
        for write in checkpoint.steps {
            let step = write.resolved(appended: outcomes)
            writeStep(step, runID: lease.runID)
            if let attempt = write.attempt { writeAttempt(attempt, runID: lease.runID) }
            if write.endsWaits {
                removeWaits(runID: lease.runID, stepKey: step.key)
            }
        }
        let now = checkpoint.now
        // The transition applies to the run as it is now: the events above may have changed it
        // (a `cancelOn` its own `sendEvent` matched), as they do in SQLite.
        switch checkpoint.transition {
        case .none:
            break
        case .retry(let at, let attempt, let error):
            updateRun(lease.runID) { run in
                run.status = .queued
                run.availableAt = at
                run.attempt = attempt
                run.error = error
            }
        case .complete(let output):
            updateRun(lease.runID) { run in
                run.status = .completed
                run.output = output
                run.error = nil
                run.availableAt = nil
                run.endedAt = now
            }
        case .fail(let error, let attempt):
            updateRun(lease.runID) { run in
                run.status = .failed
                run.error = error
                run.attempt = attempt
                run.availableAt = nil
                run.endedAt = now
            }
        case .cancel(let error):
            updateRun(lease.runID) { run in
                run.status = .cancelled
                run.error = error
                run.availableAt = nil
                run.endedAt = now
            }
        case .release:
            updateRun(lease.runID) { run in
                run.status = .queued
                run.availableAt = now
            }
        case .sleep(let until):
            updateRun(lease.runID) { run in
                run.status = .sleeping
                run.availableAt = until
            }
        case .wait(let waits, let until):
            for wait in waits {
                insertWait(wait, runID: lease.runID, environment: run.environment)
            }
            updateRun(lease.runID) { run in
                run.status = .waiting
                run.availableAt = until
            }
        }
        // Every wait of a run ends with the run.
        switch checkpoint.transition {
        case .complete, .fail, .cancel:
            removeWaits(runID: lease.runID)
        case .none, .retry, .release, .sleep, .wait:
            break
        }
        return outcomes
    }
}
