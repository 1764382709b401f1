/// Checkpoints: a step, events and a run transition, in one transaction fenced by the lease.
extension SQLiteStore {
    public func commit(_ checkpoint: RunCheckpoint) async throws -> [EventAppendOutcome] {
        let generator = idGenerator
        return try await writer.write({ connection in
            try Self.commit(checkpoint, generator: generator, connection: connection)
        }, afterCommit: Self.publishingStored(checkpoint.events)).outcomes
    }

    /// The body of a checkpoint, inside the writer's transaction: the fence first, so that a
    /// worker that lost its lease changes nothing.
    private static func commit(_ checkpoint: RunCheckpoint, generator: ULIDGenerator, connection: SQLiteConnection) throws -> AppendResult {
        let lease = checkpoint.lease
        let runID = SQLiteValue.text(lease.runID.description)
        let held = try connection.scalarInteger(
            "SELECT 1 FROM runs WHERE id = ? AND lease_token = ? AND status = 'running'", runID, .integer(lease.token))
        guard held != nil else { throw LeaseLostError(runID: lease.runID) }

        var outcomes: [EventAppendOutcome] = []
        var stored: [StoredEvent] = []
        if let events = checkpoint.events {
            outcomes = try appendEvents(events, generator: generator, connection: connection, stored: &stored)
        }
        var invokedRunID: String?
        if case .invoke(let invocation) = checkpoint.transition {
            guard outcomes.count == 1, case .accepted(let event) = outcomes[0] else {
                throw SQLiteStoreError.invalidCheckpoint(reason: "an invoke must append exactly one new event")
            }
            invokedRunID = try insertRun(
                app: invocation.appID, function: invocation.functionID, event: event, generator: generator, connection: connection)
        }
        if let step = checkpoint.step {
            var output = step.output
            if let invokedRunID, step.kind == .invoke {
                output = ["until": step.output?["until"] ?? nil, "run_id": .string(invokedRunID)]
            }
            if step.kind == .sendEvent, step.status == .completed {
                // The ids are fixed here, in the transaction that appends the events, and
                // recorded with the step: replay returns these same ids.
                output = ["ids": .array(outcomes.map { .string($0.eventID.description) })]
            }
            try connection.run(
                """
                INSERT INTO steps (run_id, key, step_id, kind, status, output, error, failed_attempts, started_at, ended_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (run_id, key) DO UPDATE SET status = excluded.status, output = excluded.output,
                    error = excluded.error, failed_attempts = excluded.failed_attempts, ended_at = excluded.ended_at
                """,
                runID, .text(step.key), .text(step.stepID), .text(step.kind.rawValue), .text(step.status.rawValue),
                output.map { .text($0.serialized) } ?? .null, try errorValue(step.error), .integer(Int64(step.failedAttempts)),
                .integer(step.startedAt), .integer(step.endedAt))
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
        case .release:
            try connection.run(
                "UPDATE runs SET status = 'queued', available_at = ?, lease_owner = NULL WHERE id = ?",
                .integer(checkpoint.now), runID)
        case .sleep(let until):
            try connection.run(
                "UPDATE runs SET status = 'sleeping', available_at = ?, lease_owner = NULL WHERE id = ?",
                .integer(until), runID)
        case .wait(let wait):
            try connection.run(
                """
                INSERT INTO run_waits (environment, run_id, kind, step_key, event_name, match_path, match_value, condition, expires_at)
                SELECT environment, id, 'step', ?, ?, ?, ?, ?, ? FROM runs WHERE id = ?
                ON CONFLICT (run_id, step_key, event_name) DO UPDATE SET expires_at = excluded.expires_at
                """,
                .text(wait.stepKey), .text(wait.eventName), wait.matchPath.map(SQLiteValue.text) ?? .null,
                wait.matchValue.map { .text($0.serialized) } ?? .null, wait.condition.map { .text($0.description) } ?? .null,
                .integer(wait.expiresAt), runID)
            try connection.run(
                "UPDATE runs SET status = 'waiting', available_at = ?, lease_owner = NULL WHERE id = ?",
                .integer(wait.expiresAt), runID)
        case .keepWaiting(let until):
            try connection.run(
                "UPDATE runs SET status = 'waiting', available_at = ?, lease_owner = NULL WHERE id = ?",
                .integer(until), runID)
        case .invoke(let invocation):
            // The invoking step ends with the invoked run's end, whichever it is.
            let match = JSON.string(invokedRunID ?? "").serialized
            for name in [SystemEvent.functionFinished, SystemEvent.functionFailed, SystemEvent.functionCancelled] {
                try connection.run(
                    """
                    INSERT INTO run_waits (environment, run_id, kind, step_key, event_name, match_path, match_value, expires_at)
                    SELECT environment, id, 'step', ?, ?, 'data.run_id', ?, ? FROM runs WHERE id = ?
                    """,
                    .text(invocation.stepKey), .text(name), .text(match), .integer(invocation.expiresAt), runID)
            }
            try connection.run(
                "UPDATE runs SET status = 'waiting', available_at = ?, lease_owner = NULL WHERE id = ?",
                .integer(invocation.expiresAt), runID)
        }
        // A wait ends with its step, and every wait of a run with the run.
        if let step = checkpoint.step, step.kind == .waitForEvent || step.kind == .invoke, step.status != .waiting {
            try connection.run("DELETE FROM run_waits WHERE run_id = ? AND step_key = ?", runID, .text(step.key))
        }
        switch checkpoint.transition {
        case .complete, .fail:
            try connection.run("DELETE FROM run_waits WHERE run_id = ?", runID)
        default:
            break
        }
        return AppendResult(outcomes: outcomes, stored: stored)
    }
}
