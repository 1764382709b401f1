/// Checkpoints: steps, events and a run transition, in one transaction fenced by the lease.
extension SQLiteStore: StoreClaimingWrites {
    public func commit(_ checkpoint: RunCheckpoint) async throws -> [EventAppendOutcome] {
        let generator = idGenerator
        return try await writer.write({ connection in
            try Self.commit(checkpoint, generator: generator, connection: connection)
        }, afterCommit: Self.publishingStored(checkpoint.events)).outcomes
    }

    /// The checkpoint and the claim in one trip to the writer and one commit: the claim runs
    /// after the checkpoint's statements, so it sees the run let go and the runs started.
    public func commit(
        _ checkpoint: RunCheckpoint, thenClaim request: ClaimRequest, handOver: @escaping @Sendable (ClaimingWriteResult) -> Void
    ) async throws -> ClaimingWriteResult {
        let generator = idGenerator
        return try await writeThenClaim(request, publishing: checkpoint.events, handOver: handOver) { connection in
            try Self.commit(checkpoint, generator: generator, connection: connection)
        }
    }

    /// The body of a checkpoint, inside the writer's transaction: the fence first, so that a
    /// worker that lost its lease changes nothing.
    private static func commit(_ checkpoint: RunCheckpoint, generator: ULIDGenerator, connection: SQLiteConnection) throws -> AppendResult {
        let lease = checkpoint.lease
        let runID = SQLiteValue.text(lease.runID.description)
        var fenced: (environment: String, flow: String?)?
        try connection.query(
            "SELECT environment, flow FROM runs WHERE id = ? AND lease_token = ? AND status = 'running'", [runID, .integer(lease.token)]
        ) { row in fenced = (row.text(0) ?? "", row.text(1)) }
        guard let (environment, flowText) = fenced else { throw LeaseLostError(runID: lease.runID) }

        var outcomes: [EventAppendOutcome] = []
        var stored: [StoredEvent] = []
        if let events = checkpoint.events {
            outcomes = try appendEvents(events, generator: generator, connection: connection, stored: &stored)
        }
        if let run = checkpoint.startsRun {
            let accepted = outcomes.compactMap { $0.accepted?.id }
            guard !accepted.isEmpty else {
                throw SQLiteStoreError.invalidCheckpoint(reason: "a checkpoint that starts a run must append at least one new event")
            }
            try insertRun(run, environment: environment, eventIDs: accepted, connection: connection)
        }
        for write in checkpoint.steps {
            let step = write.resolved(appended: outcomes)
            try connection.run(
                """
                INSERT INTO steps (run_id, key, step_id, kind, status, output, error, failed_attempts, started_at, ended_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (run_id, key) DO UPDATE SET status = excluded.status, output = excluded.output,
                    error = excluded.error, failed_attempts = excluded.failed_attempts, ended_at = excluded.ended_at
                """,
                runID, .text(step.key), .text(step.stepID), .text(step.kind.rawValue), .text(step.status.rawValue),
                step.output.map { .text($0.serialized) } ?? .null, try errorValue(step.error), .integer(Int64(step.failedAttempts)),
                .integer(step.startedAt), .integer(step.endedAt))
            if let attempt = write.attempt {
                try connection.run(
                    """
                    INSERT OR REPLACE INTO step_attempts (run_id, key, attempt, status, error, started_at, ended_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                    runID, .text(attempt.key), .integer(Int64(attempt.number)), .text(attempt.status.rawValue), try errorValue(attempt.error),
                    .integer(attempt.startedAt), .integer(attempt.endedAt))
            }
            if write.endsWaits {
                try connection.run("DELETE FROM run_waits WHERE run_id = ? AND step_key = ?", runID, .text(step.key))
            }
        }
        switch checkpoint.transition {
        case .none:
            break
        case .retry(let at, let attempt, let error):
            try connection.run(
                "UPDATE runs SET status = 'queued', available_at = ?, attempt = ?, error = ?, lease_owner = NULL WHERE id = ?",
                .integer(at), .integer(Int64(attempt)), try errorValue(error), runID)
        case .complete(let output):
            try connection.run(
                """
                UPDATE runs SET status = 'completed', output = ?, error = NULL, available_at = NULL, ended_at = ?,
                    lease_owner = NULL WHERE id = ?
                """,
                .text(output.serialized), .integer(checkpoint.now), runID)
        case .fail(let error, let attempt):
            try connection.run(
                """
                UPDATE runs SET status = 'failed', error = ?, attempt = ?, available_at = NULL, ended_at = ?,
                    lease_owner = NULL WHERE id = ?
                """,
                try errorValue(error), .integer(Int64(attempt)), .integer(checkpoint.now), runID)
        case .cancel(let error):
            try connection.run(
                """
                UPDATE runs SET status = 'cancelled', error = ?, available_at = NULL, ended_at = ?, lease_owner = NULL WHERE id = ?
                """,
                try errorValue(error), .integer(checkpoint.now), runID)
        case .release:
            try connection.run(
                "UPDATE runs SET status = 'queued', available_at = ?, lease_owner = NULL WHERE id = ?",
                .integer(checkpoint.now), runID)
        case .sleep(let until):
            try connection.run(
                "UPDATE runs SET status = 'sleeping', available_at = ?, lease_owner = NULL WHERE id = ?",
                .integer(until), runID)
        case .wait(let waits, let until):
            for wait in waits {
                try insertWait(wait, runID: lease.runID, environment: environment, connection: connection)
            }
            try connection.run(
                "UPDATE runs SET status = 'waiting', available_at = ?, lease_owner = NULL WHERE id = ?",
                .integer(until), runID)
        }
        // Every wait of a run ends with the run.
        switch checkpoint.transition {
        case .complete, .fail, .cancel:
            try connection.run("DELETE FROM run_waits WHERE run_id = ?", runID)
        default:
            break
        }
        // A run that leaves `running` gives its concurrency slots back.
        if let flowText, checkpoint.leavesRunning {
            try releaseSlots(of: RunFlow(json: try? JSON(parsing: flowText)), now: checkpoint.now, connection: connection)
        }
        return AppendResult(outcomes: outcomes, stored: stored)
    }
}
