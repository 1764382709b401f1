@_spi(StoreImplementation) public import Stepwise
import PostgresNIO

/// Checkpoints: steps, events and a run transition, in one transaction fenced by the lease.
extension PostgresStore {
    public func commit(_ checkpoint: RunCheckpoint) async throws -> [EventAppendOutcome] {
        let result = try await commit(checkpoint, claiming: nil)
        Self.publish(result.stored, to: checkpoint.events?.afterCommit)
        return result.outcomes
    }

    /// A checkpoint, and the claim that follows it in its transaction when `request` is given:
    /// on the hot paths both in one statement, the claim a `LATERAL` call whose limit is
    /// computed from the checkpoint's result, so that PostgreSQL runs it after the checkpoint
    /// (whose writes it then sees, a volatile function's statements each taking a fresh
    /// snapshot), and with a limit of 0 when the fence refused it.
    func commit(_ checkpoint: RunCheckpoint, claiming request: ClaimRequest?) async throws -> CommitResult {
        if let result = try await commitWithEventsInOneStatement(checkpoint, claiming: request) {
            notifier.mark(result.environment, coveredBy: result.coveredBy)
            return result
        }
        let movesRun: Bool = if case .none = checkpoint.transition { false } else { true }
        if !movesRun, request == nil, checkpoint.events == nil, checkpoint.startsRun == nil {
            // A step recorded, the run left running: with other runs' at once, in one call.
            guard let environment = try await checkpointBatcher.commit(checkpoint, by: commitStepCheckpoints) else {
                throw LeaseLostError(runID: checkpoint.lease.runID)
            }
            return CommitResult(outcomes: [], stored: [], environment: environment)
        }
        if checkpoint.events == nil, checkpoint.startsRun == nil {
            // The hot path, a step and a transition: one statement, one round trip.
            let result = try await autocommit { transaction in try await commitInOneStatement(checkpoint, claiming: request, in: transaction) }
            if movesRun { notifier.mark(result.environment, coveredBy: result.coveredBy) }
            return result
        }
        let result = try await transaction { transaction in
            var result = try await commit(checkpoint, in: transaction)
            result.claimRows = try await claimRows(request, in: transaction)
            return result
        }
        // A run set aside (retried, released, asleep, waiting) is due again some time, and
        // events may have started runs: workers elsewhere learn of both.
        if movesRun || !result.stored.isEmpty { notifier.mark(result.environment) }
        return result
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
        // The checkpoint's time goes with it, for the trigger that lets runs parked on the
        // run's keys go when it leaves `running` (schema 8).
        guard let fence = try await transaction.row(
            "SELECT environment, lease_token, status, set_config('stepwise.now', \(String(checkpoint.now)), true) FROM runs WHERE id = \(runID) FOR UPDATE"),
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

    /// Gives a one-statement checkpoint its time, for the trigger that lets runs parked on the
    /// run's keys go when it leaves `running` (schema 8): the setting is made in the `FROM`,
    /// which PostgreSQL evaluates before the select list, since a subquery with a volatile
    /// function in its select list is never pulled up into the query around it.
    static func appendClock(_ now: Int64, to query: inout PostgresQuery.StringInterpolation) {
        query.appendLiteral(" FROM (SELECT set_config('stepwise.now', ")
        query.appendInterpolation(String(now))
        query.appendLiteral(", true)) AS clock")
    }

    /// A checkpoint without events as one call of `commit_checkpoint` (schema 3), its own
    /// transaction: the fence, a locked read of the run as the multi-statement checkpoint
    /// takes it, then every write, in a function whose statements PostgreSQL plans once per
    /// connection. Under a stale lease the fence finds no row and the function writes nothing.
    /// With `request`, the claim follows in the same statement (``commit(_:claiming:)``).
    ///
    /// - Throws: ``LeaseLostError`` when the fence found nothing.
    private func commitInOneStatement(_ checkpoint: RunCheckpoint, claiming request: ClaimRequest?, in transaction: PostgresTransaction)
        async throws -> CommitResult
    {
        var query = PostgresQuery.StringInterpolation(literalCapacity: 64, interpolationCount: 48)
        if request != nil { query.appendLiteral("SELECT claimed.*, checkpoint.environment FROM (") }
        query.appendLiteral("SELECT commit_checkpoint(")
        query.appendInterpolation(checkpoint.lease.runID.description)
        query.appendLiteral(", ")
        query.appendInterpolation(checkpoint.lease.token)
        query.appendLiteral(", ")
        CheckpointArguments(checkpoint, outcomes: []).append(to: &query)
        query.appendLiteral(") AS environment")
        Self.appendClock(checkpoint.now, to: &query)
        if let request {
            query.appendLiteral(") AS checkpoint LEFT JOIN LATERAL ")
            Self.appendClaimCall(request, onlyIf: "checkpoint.environment IS NOT NULL", to: &query)
            query.appendLiteral(" AS claimed ON true")
        }
        let rows = try await transaction.rows(PostgresQuery(stringInterpolation: query))
        let environmentColumn = request == nil ? 0 : Self.claimColumns
        guard let environment = try rows.first?.text(environmentColumn) else {
            throw LeaseLostError(runID: checkpoint.lease.runID)
        }
        guard let request else { return CommitResult(outcomes: [], stored: [], environment: environment) }
        let claimRows = try Self.claimRows(rows)
        return CommitResult(
            outcomes: [], stored: [], environment: environment, claimRows: claimRows,
            coveredBy: Self.covering(request, claimed: claimRows.count, dueLater: Self.dueAfterClaim(checkpoint, request)))
    }

    /// Step checkpoints (no events, no transition) of several runs as one call of
    /// `commit_step_checkpoints` (schema 12), one commit; one alone as `commit_checkpoint`.
    /// Should the call fail, each is tried alone, so that one checkpoint's error is its own.
    ///
    /// - Returns: each checkpoint's outcome, in order: its run's environment, `nil` where the
    ///   fence refused it.
    private func commitStepCheckpoints(_ batch: [RunCheckpoint]) async -> [PostgresCheckpointBatcher.Outcome] {
        func alone(_ checkpoint: RunCheckpoint) async -> PostgresCheckpointBatcher.Outcome {
            do {
                return .success(try await autocommit { transaction in
                    try await commitInOneStatement(checkpoint, claiming: nil, in: transaction).environment
                })
            } catch is LeaseLostError {
                return .success(nil)
            } catch {
                return .failure(error)
            }
        }
        guard batch.count > 1 else { return [await alone(batch[0])] }
        // Sorted by run, so that two batches lock their runs in one order.
        let order = batch.indices.sorted { batch[$0].lease.runID.description < batch[$1].lease.runID.description }
        var runs: [String] = [], tokens: [Int64] = []
        var stepRange: (from: [Int64], to: [Int64]) = ([], []), attemptRange: (from: [Int64], to: [Int64]) = ([], [])
        var waitRange: (from: [Int64], to: [Int64]) = ([], [])
        var steps: [StepRecord] = [], attempts: [StepAttempt] = [], endingWaits: [String] = []
        for index in order {
            let checkpoint = batch[index]
            let arguments = CheckpointArguments(checkpoint, outcomes: [])
            runs.append(checkpoint.lease.runID.description)
            tokens.append(checkpoint.lease.token)
            stepRange.from.append(Int64(steps.count + 1))
            steps += arguments.steps
            stepRange.to.append(Int64(steps.count))
            attemptRange.from.append(Int64(attempts.count + 1))
            attempts += arguments.attempts
            attemptRange.to.append(Int64(attempts.count))
            waitRange.from.append(Int64(endingWaits.count + 1))
            endingWaits += arguments.endingWaits
            waitRange.to.append(Int64(endingWaits.count))
        }
        let query: PostgresQuery = """
            SELECT run_position, run_environment FROM commit_step_checkpoints(
                \(runs)::text[], \(tokens)::bigint[], \(stepRange.from)::integer[], \(stepRange.to)::integer[],
                \(steps.map(\.key))::text[], \(steps.map(\.stepID))::text[], \(steps.map(\.kind.rawValue))::text[],
                \(steps.map(\.status.rawValue))::text[], \(NullableTextArray(steps.map { $0.output?.serialized }))::text[],
                \(NullableTextArray(steps.map { Self.errorText($0.error) }))::text[], \(steps.map { Int64($0.failedAttempts) })::integer[],
                \(steps.map(\.startedAt))::bigint[], \(steps.map(\.endedAt))::bigint[],
                \(attemptRange.from)::integer[], \(attemptRange.to)::integer[],
                \(attempts.map(\.key))::text[], \(attempts.map { Int64($0.number) })::integer[], \(attempts.map(\.status.rawValue))::text[],
                \(NullableTextArray(attempts.map { Self.errorText($0.error) }))::text[], \(attempts.map(\.startedAt))::bigint[],
                \(attempts.map(\.endedAt))::bigint[],
                \(waitRange.from)::integer[], \(waitRange.to)::integer[], \(endingWaits)::text[])
            """
        do {
            // In a transaction of its own, not autocommitted: postgres-nio answers a statement
            // at its CommandComplete, which comes before the commit an autocommitted statement
            // makes at Sync, so a server that dies in between has said "done" of a commit it
            // lost. An explicit COMMIT answers after its commit. For one checkpoint the two
            // round trips more cost what the batch saves; for many they cost little, and a
            // batch's window is many checkpoints wide (the server-restart fault test found it).
            let rows = try await transaction { transaction in try await transaction.rows(query) }
            var outcomes = [PostgresCheckpointBatcher.Outcome](repeating: .success(nil), count: batch.count)
            var answered = 0
            for row in rows {
                let position = Int(try row.integer(0)) - 1
                guard order.indices.contains(position) else { continue }
                outcomes[order[position]] = .success(try row.text(1))
                answered += 1
            }
            guard answered == batch.count else {
                throw PostgresStoreError.corruptRow(table: "runs", reason: "commit_step_checkpoints answered \(answered) of \(batch.count)")
            }
            return outcomes
        } catch {
            // Nothing of the batch committed, unless the commit's outcome is unknown, which
            // each checkpoint then reports as its own.
            if case PostgresStoreError.commitOutcomeUnknown = error { return batch.map { _ in .failure(error) } }
            var outcomes: [PostgresCheckpointBatcher.Outcome] = []
            for checkpoint in batch { outcomes.append(await alone(checkpoint)) }
            return outcomes
        }
    }

    /// A checkpoint whose events are new ones (no seed, no dedupe id: the engine's own, such
    /// as a run's `function.finished`, or a `step.sendEvent`'s without ids) as one call of
    /// `commit_checkpoint_with_events` (schema 5), fanned out with the environment's triggers
    /// as last read; `nil` when the checkpoint must take the general path: the registry moved
    /// on, runs wait for events in the environment, or the events start runs that wait.
    ///
    /// - Throws: ``LeaseLostError`` when the fence found nothing.
    private func commitWithEventsInOneStatement(_ checkpoint: RunCheckpoint, claiming request: ClaimRequest?) async throws -> CommitResult? {
        guard let batch = checkpoint.events, checkpoint.startsRun == nil, batch.idSeed == nil, !batch.events.isEmpty,
              !batch.events.contains(where: { $0.dedupeID != nil || $0.traceContext != nil })
        else { return nil }
        let environment = batch.environment
        guard !environmentsWithWaits.withLock({ $0.contains(environment) }) else { return nil }
        let cached = try await cachedTriggers(environment: environment)
        var events: [(event: StoredEvent, dataText: String, userText: String?)] = []
        var runs: [(run: NewRun, eventID: EventID)] = []
        for event in batch.events {
            let stored = StoredEvent(
                id: EventID(idGenerator.next(milliseconds: batch.receivedAt)), environment: environment, name: event.name, data: event.data,
                user: event.user, dedupeID: nil, ts: event.ts, v: event.v, receivedAt: batch.receivedAt)
            events.append((stored, event.dataText, event.userText))
            for target in cached.index.targets(for: stored) {
                if target.appliesFlowControl { return nil }
                runs.append((NewRun.triggered(
                    id: RunID(idGenerator.next(milliseconds: stored.receivedAt)), appID: target.appID, functionID: target.functionID,
                    settings: target.settings, by: stored), stored.id))
            }
        }
        let waits = runs.flatMap { run in run.run.waits.map { (runID: run.run.id, wait: $0) } }
        guard waits.isEmpty else { return nil }
        let outcomes = events.map { EventAppendOutcome.accepted($0.event) }

        var query = PostgresQuery.StringInterpolation(literalCapacity: 64, interpolationCount: 68)
        if request != nil { query.appendLiteral("SELECT claimed.*, checkpoint.written FROM (") }
        query.appendLiteral("SELECT commit_checkpoint_with_events(")
        query.appendInterpolation(checkpoint.lease.runID.description)
        query.appendLiteral(", ")
        query.appendInterpolation(checkpoint.lease.token)
        query.appendLiteral(", ")
        query.appendInterpolation(environment)
        query.appendLiteral(", ")
        query.appendInterpolation(cached.version)
        query.appendLiteral(", ")
        query.appendInterpolation(batch.receivedAt)
        query.appendLiteral(", ")
        query.appendInterpolation(events.map(\.event.id.description))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(events.map(\.event.name))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(events.map(\.dataText))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(NullableTextArray(events.map(\.userText)))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(events.map(\.event.ts))
        query.appendLiteral("::bigint[], ")
        query.appendInterpolation(NullableTextArray(events.map(\.event.v)))
        query.appendLiteral("::text[], ")
        Self.appendStartedRuns(runs, to: &query)
        // The started runs' own waits: none on this path (checked above), as empty arrays.
        query.appendLiteral("'{}'::text[], '{}'::text[], '{}'::text[], '{}'::text[], '{}'::text[], '{}'::text[], '{}'::text[], '{}'::bigint[], ")
        CheckpointArguments(checkpoint, outcomes: outcomes).append(to: &query)
        query.appendLiteral(") AS written")
        Self.appendClock(checkpoint.now, to: &query)
        if let request {
            query.appendLiteral(") AS checkpoint LEFT JOIN LATERAL ")
            Self.appendClaimCall(request, onlyIf: "checkpoint.written = 1", to: &query)
            query.appendLiteral(" AS claimed ON true")
        }
        let rows = try await autocommit { transaction in try await transaction.rows(PostgresQuery(stringInterpolation: query)) }
        switch try rows.first?.optionalInteger(request == nil ? 0 : Self.claimColumns) {
        case 1:
            guard let request else { return CommitResult(outcomes: outcomes, stored: outcomes.compactMap(\.accepted), environment: environment) }
            let claimRows = try Self.claimRows(rows)
            let dueLater = Self.dueAfterClaim(checkpoint, request) || runs.contains { $0.run.availableAt > request.now }
            return CommitResult(
                outcomes: outcomes, stored: outcomes.compactMap(\.accepted), environment: environment, claimRows: claimRows,
                coveredBy: Self.covering(request, claimed: claimRows.count, dueLater: dueLater))
        case 0:
            throw LeaseLostError(runID: checkpoint.lease.runID)
        default:
            // Nothing written: read anew, and take the general path.
            if cached.version == (try await registryVersion(environment: environment)) {
                environmentsWithWaits.withLock { _ = $0.insert(environment) }
            } else {
                triggerCache.withLock { _ = $0.removeValue(forKey: environment) }
            }
            return nil
        }
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
        /// The rows of the claim made in the checkpoint's transaction, if one was asked for.
        var claimRows: [PostgresRandomAccessRow] = []
        /// The claimer that claim covered (``PostgresNotifier/mark(_:coveredBy:)``).
        var coveredBy: String?
    }

    /// Whether `checkpoint` makes its run due after the time `request` claims at: a claim in
    /// its transaction cannot have taken it, and its worker must look again then.
    static func dueAfterClaim(_ checkpoint: RunCheckpoint, _ request: ClaimRequest) -> Bool {
        switch checkpoint.transition {
        case .none, .complete, .fail, .cancel: false
        case .retry(let at, _, _): at > request.now
        case .release: checkpoint.now > request.now
        case .sleep, .wait: true
        }
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

/// The arguments `commit_checkpoint` takes after the run and its token, in its order: the
/// steps, their attempts, the waits that end, the transition's waits, and what the
/// transition sets (its status, none for `.none`; due time; attempt; error; output; when the
/// run ended).
struct CheckpointArguments {
    let steps: [StepRecord]
    let attempts: [StepAttempt]
    let endsRun: Bool
    let endingWaits: [String]
    var waits: [RunWait] = []
    var status: String?
    var availableAt: Int64?
    var attempt: Int64?
    var error: (set: Bool, text: String?) = (false, nil)
    var output: (set: Bool, text: String?) = (false, nil)
    var endedAt: Int64?

    init(_ checkpoint: RunCheckpoint, outcomes: [EventAppendOutcome]) {
        (steps, attempts) = PostgresStore.deduplicated(checkpoint.steps, outcomes: outcomes)
        switch checkpoint.transition {
        case .complete, .fail, .cancel: endsRun = true
        case .none, .retry, .release, .sleep, .wait: endsRun = false
        }
        endingWaits = checkpoint.steps.filter(\.endsWaits).map(\.record.key)
        let now = checkpoint.now
        switch checkpoint.transition {
        case .none:
            break
        case .retry(let at, let number, let failure):
            (status, availableAt, attempt, error) = ("queued", at, Int64(number), (true, PostgresStore.errorText(failure)))
        case .complete(let value):
            (status, availableAt, error, output, endedAt) = ("completed", nil, (true, nil), (true, value.serialized), now)
        case .fail(let failure, let number):
            (status, availableAt, attempt, error, endedAt) = ("failed", nil, Int64(number), (true, PostgresStore.errorText(failure)), now)
        case .cancel(let failure):
            (status, availableAt, error, endedAt) = ("cancelled", nil, (true, PostgresStore.errorText(failure)), now)
        case .release:
            (status, availableAt) = ("queued", now)
        case .sleep(let until):
            (status, availableAt) = ("sleeping", until)
        case .wait(let newWaits, let until):
            (status, availableAt, waits) = ("waiting", until, newWaits)
        }
    }

    func append(to query: inout PostgresQuery.StringInterpolation) {
        func array(_ values: [String]) {
            query.appendInterpolation(values)
            query.appendLiteral("::text[], ")
        }
        func nullable(_ values: [String?]) {
            query.appendInterpolation(NullableTextArray(values))
            query.appendLiteral("::text[], ")
        }
        func integers(_ values: [Int64], _ type: String) {
            query.appendInterpolation(values)
            query.appendLiteral("::\(type)[], ")
        }
        array(steps.map(\.key))
        array(steps.map(\.stepID))
        array(steps.map(\.kind.rawValue))
        array(steps.map(\.status.rawValue))
        nullable(steps.map { $0.output?.serialized })
        nullable(steps.map { PostgresStore.errorText($0.error) })
        integers(steps.map { Int64($0.failedAttempts) }, "integer")
        integers(steps.map(\.startedAt), "bigint")
        integers(steps.map(\.endedAt), "bigint")
        array(attempts.map(\.key))
        integers(attempts.map { Int64($0.number) }, "integer")
        array(attempts.map(\.status.rawValue))
        nullable(attempts.map { PostgresStore.errorText($0.error) })
        integers(attempts.map(\.startedAt), "bigint")
        integers(attempts.map(\.endedAt), "bigint")
        query.appendInterpolation(endsRun)
        query.appendLiteral(", ")
        array(endingWaits)
        array(waits.map(\.kind.rawValue))
        array(waits.map(\.stepKey))
        array(waits.map(\.eventName))
        nullable(waits.map(\.matchPath))
        nullable(waits.map { $0.matchValue?.serialized })
        nullable(waits.map { $0.condition?.description })
        integers(waits.map(\.expiresAt), "bigint")
        query.appendInterpolation(status)
        query.appendLiteral("::text, ")
        query.appendInterpolation(availableAt)
        query.appendLiteral("::bigint, ")
        query.appendInterpolation(attempt)
        query.appendLiteral("::integer, ")
        query.appendInterpolation(error.set)
        query.appendLiteral(", ")
        query.appendInterpolation(error.text)
        query.appendLiteral("::text, ")
        query.appendInterpolation(output.set)
        query.appendLiteral(", ")
        query.appendInterpolation(output.text)
        query.appendLiteral("::text, ")
        query.appendInterpolation(endedAt)
        query.appendLiteral("::bigint")
    }
}
