@_spi(StoreImplementation) public import Stepwise
import PostgresNIO

/// Checkpoints: steps, events and a run transition, in one transaction fenced by the lease.
extension PostgresStore {
    public func commit(_ checkpoint: RunCheckpoint) async throws -> [EventAppendOutcome] {
        if checkpoint.events == nil, checkpoint.startsRun == nil {
            // The hot path, a step and a transition: one statement, one round trip.
            let environment = try await read { transaction in try await commitInOneStatement(checkpoint, in: transaction) }
            let movesRun: Bool = if case .none = checkpoint.transition { false } else { true }
            if movesRun { notifier.mark(environment) }
            return []
        }
        let result = try await transaction { transaction in try await commit(checkpoint, in: transaction) }
        Self.publish(result.stored, to: checkpoint.events?.afterCommit)
        // A run set aside (retried, released, asleep, waiting) is due again some time, and
        // events may have started runs: workers elsewhere learn of both.
        let movesRun: Bool = if case .none = checkpoint.transition { false } else { true }
        if movesRun || !result.stored.isEmpty { notifier.mark(result.environment) }
        return result.outcomes
    }

    /// The body of a checkpoint: the fence first, so that a worker that lost its lease changes
    /// nothing; then the events (as an append), the run they start, the steps and the
    /// transition, in the order ``Store/commit(_:)`` gives.
    private func commit(_ checkpoint: RunCheckpoint, in transaction: PostgresTransaction) async throws -> CommitResult {
        let lease = checkpoint.lease
        let runID = lease.runID.description
        // The fence: a locked read, which waits for a claim of the run that is committing and
        // then reads its new token (a plain SELECT would take no lock and could read the row
        // as it was before that claim). The lock holds until this transaction ends, so no
        // claim moves the lease on between the check and the writes.
        guard let fence = try await transaction.row("SELECT environment, lease_token, status FROM runs WHERE id = \(runID) FOR UPDATE"),
              try fence.integer(1) == lease.token, try fence.text(2) == RunStatus.running.rawValue, let environment = try fence.text(0)
        else { throw LeaseLostError(runID: lease.runID) }

        var outcomes: [EventAppendOutcome] = []
        var stored: [StoredEvent] = []
        if let events = checkpoint.events {
            outcomes = try await appendEvents(events, in: transaction, stored: &stored)
        }
        if let run = checkpoint.startsRun {
            let accepted = outcomes.compactMap { $0.accepted?.id }
            guard !accepted.isEmpty else {
                throw PostgresStoreError.invalidCheckpoint(reason: "a checkpoint that starts a run must append at least one new event")
            }
            try await insertRuns([(run, accepted)], environment: environment, in: transaction)
        }
        try await writeSteps(checkpoint.steps, runID: runID, outcomes: outcomes, in: transaction)

        let now = checkpoint.now
        // The transition applies to the run as it is now: the events above may have changed it
        // (a `cancelOn` its own `sendEvent` matched), as they do in the other stores.
        switch checkpoint.transition {
        case .none:
            break
        case .retry(let at, let attempt, let error):
            try await transaction.execute(
                """
                UPDATE runs SET status = 'queued', available_at = \(at), attempt = \(Int64(attempt)), error = \(Self.errorText(error)),
                    lease_owner = NULL WHERE id = \(runID)
                """)
        case .complete(let output):
            try await transaction.execute(
                """
                UPDATE runs SET status = 'completed', output = \(output.serialized), error = NULL, available_at = NULL,
                    ended_at = \(now), lease_owner = NULL WHERE id = \(runID)
                """)
        case .fail(let error, let attempt):
            try await transaction.execute(
                """
                UPDATE runs SET status = 'failed', error = \(Self.errorText(error)), attempt = \(Int64(attempt)), available_at = NULL,
                    ended_at = \(now), lease_owner = NULL WHERE id = \(runID)
                """)
        case .cancel(let error):
            try await transaction.execute(
                """
                UPDATE runs SET status = 'cancelled', error = \(Self.errorText(error)), available_at = NULL, ended_at = \(now),
                    lease_owner = NULL WHERE id = \(runID)
                """)
        case .release:
            try await transaction.execute(
                "UPDATE runs SET status = 'queued', available_at = \(now), lease_owner = NULL WHERE id = \(runID)")
        case .sleep(let until):
            try await transaction.execute(
                "UPDATE runs SET status = 'sleeping', available_at = \(until), lease_owner = NULL WHERE id = \(runID)")
        case .wait(let waits, let until):
            try await insertWaits(waits.map { (lease.runID, $0) }, environment: environment, in: transaction)
            try await transaction.execute(
                "UPDATE runs SET status = 'waiting', available_at = \(until), lease_owner = NULL WHERE id = \(runID)")
        }
        // Every wait of a run ends with the run.
        switch checkpoint.transition {
        case .complete, .fail, .cancel:
            try await transaction.execute("DELETE FROM run_waits WHERE run_id = \(runID)")
        case .none, .retry, .release, .sleep, .wait:
            break
        }
        return CommitResult(outcomes: outcomes, stored: stored, environment: environment)
    }

    /// A checkpoint without events as one statement, its own transaction: the fence, a locked
    /// read of the run as the multi-statement checkpoint takes it, and every write made only
    /// if the fence found the run under this lease (`WHERE EXISTS (SELECT 1 FROM fence)`).
    /// PostgreSQL runs a statement's data-modifying CTEs against one snapshot and all of them
    /// to completion, and a locked row that a concurrent claim changed is re-read before it is
    /// returned ("rows that satisfied the query conditions as of the query snapshot will be
    /// locked, although they will not be returned if they were updated after the snapshot
    /// and no longer satisfy the query conditions", the SELECT docs): a stale lease finds no
    /// row and writes nothing.
    ///
    /// - Returns: the run's environment.
    /// - Throws: ``LeaseLostError`` when the fence found nothing.
    private func commitInOneStatement(_ checkpoint: RunCheckpoint, in transaction: PostgresTransaction) async throws -> String {
        let lease = checkpoint.lease
        var statement = PostgresStatement()
        let run = try statement.bind(lease.runID.description)
        let token = try statement.bind(lease.token)
        statement.append(
            """
            WITH fence AS (
                SELECT id, environment FROM runs WHERE id = \(run) AND lease_token = \(token) AND status = 'running' FOR UPDATE
            )
            """)
        let (steps, attempts) = Self.deduplicated(checkpoint.steps, outcomes: [])
        if !steps.isEmpty {
            statement.append(
                """
                , written_steps AS (
                    INSERT INTO steps (run_id, key, step_id, kind, status, output, error, failed_attempts, started_at, ended_at)
                    SELECT \(run), key, step_id, kind, status, output, error, failed_attempts, started_at, ended_at
                    FROM unnest(\(try statement.bind(steps.map(\.key)))::text[], \(try statement.bind(steps.map(\.stepID)))::text[],
                                \(try statement.bind(steps.map(\.kind.rawValue)))::text[], \(try statement.bind(steps.map(\.status.rawValue)))::text[],
                                \(try statement.bind(NullableTextArray(steps.map { $0.output?.serialized })))::text[],
                                \(try statement.bind(NullableTextArray(steps.map { Self.errorText($0.error) })))::text[],
                                \(try statement.bind(steps.map { Int64($0.failedAttempts) }))::integer[],
                                \(try statement.bind(steps.map(\.startedAt)))::bigint[], \(try statement.bind(steps.map(\.endedAt)))::bigint[])
                        WITH ORDINALITY AS s (key, step_id, kind, status, output, error, failed_attempts, started_at, ended_at, position)
                    WHERE EXISTS (SELECT 1 FROM fence)
                    ORDER BY position
                    ON CONFLICT (run_id, key) DO UPDATE SET status = excluded.status, output = excluded.output, error = excluded.error,
                        failed_attempts = excluded.failed_attempts, ended_at = excluded.ended_at
                )
                """)
        }
        if !attempts.isEmpty {
            statement.append(
                """
                , written_attempts AS (
                    INSERT INTO step_attempts (run_id, key, attempt, status, error, started_at, ended_at)
                    SELECT \(run), key, attempt, status, error, started_at, ended_at
                    FROM unnest(\(try statement.bind(attempts.map(\.key)))::text[], \(try statement.bind(attempts.map { Int64($0.number) }))::integer[],
                                \(try statement.bind(attempts.map(\.status.rawValue)))::text[],
                                \(try statement.bind(NullableTextArray(attempts.map { Self.errorText($0.error) })))::text[],
                                \(try statement.bind(attempts.map(\.startedAt)))::bigint[], \(try statement.bind(attempts.map(\.endedAt)))::bigint[])
                        AS a (key, attempt, status, error, started_at, ended_at)
                    WHERE EXISTS (SELECT 1 FROM fence)
                    ON CONFLICT (run_id, key, attempt) DO UPDATE SET status = excluded.status, error = excluded.error,
                        started_at = excluded.started_at, ended_at = excluded.ended_at
                )
                """)
        }
        let endsRun: Bool
        switch checkpoint.transition {
        case .complete, .fail, .cancel: endsRun = true
        case .none, .retry, .release, .sleep, .wait: endsRun = false
        }
        let endingWaits = checkpoint.steps.filter(\.endsWaits).map(\.record.key)
        if endsRun {
            // Every wait of a run ends with the run (the steps' own among them).
            statement.append(", ended_waits AS (DELETE FROM run_waits WHERE run_id = \(run) AND EXISTS (SELECT 1 FROM fence))")
        } else if !endingWaits.isEmpty {
            statement.append(
                """
                , ended_waits AS (
                    DELETE FROM run_waits WHERE run_id = \(run) AND step_key = ANY(\(try statement.bind(endingWaits))::text[])
                      AND EXISTS (SELECT 1 FROM fence)
                )
                """)
        }
        let now = checkpoint.now
        let set: String?
        switch checkpoint.transition {
        case .none:
            set = nil
        case .retry(let at, let attempt, let error):
            set = "status = 'queued', available_at = \(try statement.bind(at)), attempt = \(try statement.bind(Int64(attempt)))::integer, "
                + "error = \(try statement.bind(Self.errorText(error)))::text, lease_owner = NULL"
        case .complete(let output):
            set = "status = 'completed', output = \(try statement.bind(output.serialized)), error = NULL, available_at = NULL, "
                + "ended_at = \(try statement.bind(now)), lease_owner = NULL"
        case .fail(let error, let attempt):
            set = "status = 'failed', error = \(try statement.bind(Self.errorText(error)))::text, attempt = \(try statement.bind(Int64(attempt)))::integer, "
                + "available_at = NULL, ended_at = \(try statement.bind(now)), lease_owner = NULL"
        case .cancel(let error):
            set = "status = 'cancelled', error = \(try statement.bind(Self.errorText(error)))::text, available_at = NULL, "
                + "ended_at = \(try statement.bind(now)), lease_owner = NULL"
        case .release:
            set = "status = 'queued', available_at = \(try statement.bind(now)), lease_owner = NULL"
        case .sleep(let until):
            set = "status = 'sleeping', available_at = \(try statement.bind(until)), lease_owner = NULL"
        case .wait(let waits, let until):
            if !waits.isEmpty {
                statement.append(
                    """
                    , new_waits AS (
                        INSERT INTO run_waits (environment, run_id, kind, step_key, event_name, match_path, match_value, condition, expires_at)
                        SELECT fence.environment, \(run), kind, step_key, event_name, match_path, match_value, condition, expires_at
                        FROM fence, unnest(\(try statement.bind(waits.map(\.kind.rawValue)))::text[], \(try statement.bind(waits.map(\.stepKey)))::text[],
                                           \(try statement.bind(waits.map(\.eventName)))::text[],
                                           \(try statement.bind(NullableTextArray(waits.map(\.matchPath))))::text[],
                                           \(try statement.bind(NullableTextArray(waits.map { $0.matchValue?.serialized })))::text[],
                                           \(try statement.bind(NullableTextArray(waits.map { $0.condition?.description })))::text[],
                                           \(try statement.bind(waits.map(\.expiresAt)))::bigint[])
                            WITH ORDINALITY AS w (kind, step_key, event_name, match_path, match_value, condition, expires_at, position)
                        ORDER BY position
                        ON CONFLICT (run_id, step_key, event_name) DO UPDATE SET expires_at = excluded.expires_at
                    )
                    """)
            }
            set = "status = 'waiting', available_at = \(try statement.bind(until)), lease_owner = NULL"
        }
        if let set {
            statement.append(", moved AS (UPDATE runs SET \(set) WHERE id = \(run) AND EXISTS (SELECT 1 FROM fence))")
        }
        statement.append(" SELECT environment FROM fence")
        guard let environment = try await transaction.row(statement.query)?.text(0) else { throw LeaseLostError(runID: lease.runID) }
        return environment
    }

    /// A checkpoint's steps, one row per key (the last write winning, at its key's first
    /// place), and its attempts, one per key and number: a statement's ON CONFLICT may not
    /// touch one row twice.
    static func deduplicated(_ writes: [StepWrite], outcomes: [EventAppendOutcome]) -> (steps: [StepRecord], attempts: [StepAttempt]) {
        var steps: [StepRecord] = []
        var positions: [String: Int] = [:]
        for write in writes {
            let step = write.resolved(appended: outcomes)
            if let position = positions[step.key] {
                steps[position] = step
            } else {
                positions[step.key] = steps.count
                steps.append(step)
            }
        }
        var attempts: [StepAttempt] = []
        for attempt in writes.compactMap(\.attempt) {
            attempts.removeAll { $0.key == attempt.key && $0.number == attempt.number }
            attempts.append(attempt)
        }
        return (steps, attempts)
    }

    /// What a checkpoint's transaction did.
    struct CommitResult: Sendable {
        var outcomes: [EventAppendOutcome]
        var stored: [StoredEvent]
        var environment: String
    }

    /// Writes a checkpoint's steps in one statement, their attempts in another, and drops the
    /// waits of those that end theirs.
    private func writeSteps(_ writes: [StepWrite], runID: String, outcomes: [EventAppendOutcome], in transaction: PostgresTransaction)
        async throws
    {
        guard !writes.isEmpty else { return }
        let (steps, attempts) = Self.deduplicated(writes, outcomes: outcomes)
        try await transaction.execute(
            """
            INSERT INTO steps (run_id, key, step_id, kind, status, output, error, failed_attempts, started_at, ended_at)
            SELECT \(runID), key, step_id, kind, status, output, error, failed_attempts, started_at, ended_at
            FROM unnest(\(steps.map(\.key))::text[], \(steps.map(\.stepID))::text[], \(steps.map(\.kind.rawValue))::text[],
                        \(steps.map(\.status.rawValue))::text[], \(NullableTextArray(steps.map { $0.output?.serialized }))::text[],
                        \(NullableTextArray(steps.map { Self.errorText($0.error) }))::text[], \(steps.map { Int64($0.failedAttempts) })::integer[],
                        \(steps.map(\.startedAt))::bigint[], \(steps.map(\.endedAt))::bigint[])
                WITH ORDINALITY AS s (key, step_id, kind, status, output, error, failed_attempts, started_at, ended_at, position)
            ORDER BY position
            ON CONFLICT (run_id, key) DO UPDATE SET status = excluded.status, output = excluded.output, error = excluded.error,
                failed_attempts = excluded.failed_attempts, ended_at = excluded.ended_at
            """)
        if !attempts.isEmpty {
            try await transaction.execute(
                """
                INSERT INTO step_attempts (run_id, key, attempt, status, error, started_at, ended_at)
                SELECT \(runID), key, attempt, status, error, started_at, ended_at
                FROM unnest(\(attempts.map(\.key))::text[], \(attempts.map { Int64($0.number) })::integer[],
                            \(attempts.map(\.status.rawValue))::text[], \(NullableTextArray(attempts.map { Self.errorText($0.error) }))::text[],
                            \(attempts.map(\.startedAt))::bigint[], \(attempts.map(\.endedAt))::bigint[])
                    AS a (key, attempt, status, error, started_at, ended_at)
                ON CONFLICT (run_id, key, attempt) DO UPDATE SET status = excluded.status, error = excluded.error,
                    started_at = excluded.started_at, ended_at = excluded.ended_at
                """)
        }
        let endingWaits = writes.filter(\.endsWaits).map(\.record.key)
        if !endingWaits.isEmpty {
            try await transaction.execute("DELETE FROM run_waits WHERE run_id = \(runID) AND step_key = ANY(\(endingWaits)::text[])")
        }
    }
}
