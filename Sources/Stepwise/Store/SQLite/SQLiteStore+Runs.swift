extension SQLiteStore {
    static let runColumns =
        "id, environment, app_id, function_id, event_id, status, attempt, output, error, created_at, started_at, ended_at, available_at, lease_token, rerun_of"
    static let stepColumns = "run_id, key, step_id, kind, status, output, error, failed_attempts, started_at, ended_at"

    public func claim(_ request: ClaimRequest) async throws -> [ClaimedRun] {
        guard request.limit > 0, !request.functionIDs.isEmpty else { return [] }
        let functionIDs = JSON.array(request.functionIDs.map { .string($0) }).serialized
        return try await writer.write { connection in
            var ids: [(id: String, status: String)] = []
            try connection.query(
                """
                SELECT id, status FROM runs
                WHERE environment = ? AND app_id = ? AND status IN ('queued', 'running', 'sleeping', 'waiting') AND available_at <= ?
                  AND function_id IN (SELECT value FROM json_each(?))
                ORDER BY available_at LIMIT ?
                """,
                [.text(request.environment), .text(request.appID), .integer(request.now), .text(functionIDs), .integer(Int64(request.limit))]
            ) { row in
                if let id = row.text(0) { ids.append((id, row.text(1) ?? "")) }
            }
            var claimed: [ClaimedRun] = []
            for (id, previousStatus) in ids {
                do {
                    if let run = try Self.claim(runID: id, previousStatus: previousStatus, request, connection: connection) {
                        claimed.append(run)
                    }
                } catch SQLiteStoreError.corruptRow(_, let reason) {
                    // One run that cannot be replayed fails alone, here, rather than failing
                    // every claim that would include it (invariant 7).
                    try Self.failUnreadable(runID: id, reason: reason, now: request.now, connection: connection)
                }
            }
            return claimed
        }
    }

    /// Claims one run inside the claim's transaction: its new lease, its event and its steps.
    ///
    /// - Throws: ``SQLiteStoreError/corruptRow(table:reason:)`` when the run's event or steps
    ///   cannot be read.
    private static func claim(
        runID id: String, previousStatus: String, _ request: ClaimRequest, connection: SQLiteConnection
    ) throws -> ClaimedRun? {
        try endSuspension(runID: id, status: previousStatus, now: request.now, connection: connection)
        var run: RunRecord?
        var token: Int64 = 0
        try connection.query(
            """
            UPDATE runs SET status = 'running', lease_token = lease_token + 1, lease_owner = ?, available_at = ?,
                started_at = COALESCE(started_at, ?)
            WHERE id = ? RETURNING \(runColumns)
            """,
            [.text(request.owner), .integer(request.now + request.leaseDuration), .integer(request.now), .text(id)]
        ) { row in
            run = try runRecord(row)
            token = row.integer(13)
        }
        guard let run else { return nil }
        var event: StoredEvent?
        try connection.query("SELECT \(eventColumns) FROM events WHERE id = ?", [.text(run.eventID.description)]) { row in
            event = try storedEvent(row)
        }
        guard let event else {
            throw SQLiteStoreError.corruptRow(table: "runs", reason: "run \(id) names event \(run.eventID), which does not exist")
        }
        let records = try Self.steps(runID: id, strict: true, connection: connection)
        return ClaimedRun(
            run: run, lease: RunLease(runID: run.id, token: token, owner: request.owner), event: event,
            steps: Dictionary(records.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last }))
    }

    /// Fails a run that cannot be replayed, because its event or a step of it cannot be read,
    /// with an error that says so. No `function.failed` is emitted: it would carry the very
    /// event that may be what cannot be read.
    private static func failUnreadable(runID: String, reason: String, now: Int64, connection: SQLiteConnection) throws {
        let error = ErrorRecord(name: "Stepwise.UnreadableRun", message: "the run cannot be replayed: \(reason)")
        try connection.run(
            """
            UPDATE runs SET status = 'failed', error = ?, available_at = NULL, ended_at = ?, lease_owner = NULL
            WHERE id = ?
            """,
            try errorValue(error), .integer(now), .text(runID))
        try connection.run("DELETE FROM run_waits WHERE run_id = ?", .text(runID))
    }

    /// A sleeping run claimed at its wake time has slept, and a waiting run claimed at its
    /// timeout has timed out: recorded in the claim's transaction, so the replay passes the
    /// step without another commit, and no event can match the wait once the run is claimed.
    private static func endSuspension(runID: String, status: String, now: Int64, connection: SQLiteConnection) throws {
        switch status {
        case "sleeping":
            try connection.run(
                """
                UPDATE steps SET status = 'completed', ended_at = ?
                WHERE run_id = ? AND kind = 'sleep' AND status = 'waiting' AND json_extract(output, '$.until') <= ?
                """,
                .integer(now), .text(runID), .integer(now))
        case "waiting":
            try connection.run(
                """
                UPDATE steps SET status = 'completed', output = 'null', ended_at = ?
                WHERE run_id = ? AND kind IN ('waitForEvent', 'invoke') AND status = 'waiting'
                """,
                .integer(now), .text(runID))
            // The step's waits only: a cancelOn listens for the run's whole life.
            try connection.run("DELETE FROM run_waits WHERE run_id = ? AND kind = 'step'", .text(runID))
        default:
            break
        }
    }

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

    static func errorValue(_ error: ErrorRecord?) throws -> SQLiteValue {
        guard let error else { return .null }
        return .text(JSON.object(["name": .string(error.name), "message": .string(error.message)]).serialized)
    }

    private static func errorRecord(_ text: String?) -> ErrorRecord? {
        guard let text, let json = try? JSON(parsing: text) else { return nil }
        return ErrorRecord(name: json["name"]?.stringValue ?? "", message: json["message"]?.stringValue ?? "")
    }

    public func cancel(runID: RunID, environment: String, now: Int64, reason: ErrorRecord, events: EventBatch?) async throws -> Bool {
        let generator = idGenerator
        let error = try Self.errorValue(reason)
        let outcome = try await writer.write({ connection -> AppendResult? in
            let id = SQLiteValue.text(runID.description)
            let changed = try connection.run(
                """
                UPDATE runs SET status = 'cancelled', error = ?, ended_at = ?, available_at = NULL, lease_owner = NULL
                WHERE id = ? AND environment = ? AND status NOT IN ('completed', 'failed', 'cancelled')
                """,
                error, .integer(now), id, .text(environment))
            guard changed == 1 else { return nil }
            try connection.run("DELETE FROM run_waits WHERE run_id = ?", id)
            guard let events else { return AppendResult(outcomes: [], stored: []) }
            var stored: [StoredEvent] = []
            let outcomes = try Self.appendEvents(events, generator: generator, connection: connection, stored: &stored)
            return AppendResult(outcomes: outcomes, stored: stored)
        }, afterCommit: { result in
            if let result { Self.publishingStored(events)?(result) }
        })
        return outcome != nil
    }

    public func renew(_ leases: [RunLease], until: Int64) async throws -> [RunLease] {
        guard !leases.isEmpty else { return [] }
        return try await writer.write { connection in
            var lost: [RunLease] = []
            for lease in leases {
                let changed = try connection.run(
                    "UPDATE runs SET available_at = ? WHERE id = ? AND lease_token = ? AND status = 'running'",
                    .integer(until), .text(lease.runID.description), .integer(lease.token))
                guard changed == 0 else { continue }
                // Not renewed: either another claim took the run (its token moved on), or this
                // worker's own checkpoint set it aside after the leases were listed, which
                // leaves the token as it was. Only the first is a lost lease.
                let token = try connection.scalarInteger(
                    "SELECT lease_token FROM runs WHERE id = ?", .text(lease.runID.description))
                if token != lease.token { lost.append(lease) }
            }
            return lost
        }
    }

    public func rerun(runID: RunID, environment: String, now: Int64) async throws -> RunRecord? {
        let generator = idGenerator
        return try await writer.write { connection in
            var first: RunRecord?
            try connection.query(
                "SELECT \(Self.runColumns) FROM runs WHERE id = ? AND environment = ?", [.text(runID.description), .text(environment)]
            ) { row in
                first = try Self.runRecord(row)
            }
            guard let first else { return nil }
            guard try connection.scalarInteger(
                "SELECT 1 FROM functions WHERE environment = ? AND app_id = ? AND function_id = ?",
                .text(environment), .text(first.appID), .text(first.functionID)) != nil
            else { throw RerunError(runID: runID, functionID: first.functionID) }
            var event: StoredEvent?
            try connection.query("SELECT \(Self.eventColumns) FROM events WHERE id = ?", [.text(first.eventID.description)]) { row in
                event = try Self.storedEvent(row)
            }
            guard let event else {
                throw SQLiteStoreError.corruptRow(table: "runs", reason: "run \(runID) names event \(first.eventID), which does not exist")
            }
            let id = generator.next(milliseconds: now).description
            try connection.run(
                """
                INSERT INTO runs (id, environment, app_id, function_id, event_id, status, available_at, created_at, rerun_of)
                VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)
                """,
                .text(id), .text(environment), .text(first.appID), .text(first.functionID), .text(first.eventID.description),
                .integer(now), .integer(now), .text(runID.description))
            try Self.registerCancellations(runID: id, app: first.appID, function: first.functionID, event: event, connection: connection)
            var rerun: RunRecord?
            try connection.query("SELECT \(Self.runColumns) FROM runs WHERE id = ?", [.text(id)]) { row in
                rerun = try Self.runRecord(row)
            }
            return rerun
        }
    }

    public func environmentExists(_ environment: String) async throws -> Bool {
        try await read { connection in
            try connection.scalarInteger(
                """
                SELECT EXISTS (SELECT 1 FROM functions WHERE environment = ?1)
                    OR EXISTS (SELECT 1 FROM events WHERE environment = ?1)
                """,
                .text(environment)) == 1
        }
    }

    public func nextDueTime(environment: String, appID: String, functionIDs: [String]) async throws -> Int64? {
        guard !functionIDs.isEmpty else { return nil }
        let ids = JSON.array(functionIDs.map { .string($0) }).serialized
        return try await read { connection in
            // The next run due, or the next schedule tick, whichever comes first.
            try connection.scalarInteger(
                """
                SELECT MIN(due) FROM (
                    SELECT MIN(available_at) AS due FROM runs
                    WHERE environment = ?1 AND app_id = ?2 AND status IN ('queued', 'running', 'sleeping', 'waiting')
                      AND function_id IN (SELECT value FROM json_each(?3))
                    UNION ALL
                    SELECT MIN(next_at) FROM cron_schedules
                    WHERE environment = ?1 AND app_id = ?2 AND function_id IN (SELECT value FROM json_each(?3))
                )
                """,
                .text(environment), .text(appID), .text(ids))
        }
    }

    public func run(id: RunID, environment: String) async throws -> RunRecord? {
        try await read { connection in
            var run: RunRecord?
            try connection.query(
                "SELECT \(Self.runColumns) FROM runs WHERE id = ? AND environment = ?", [.text(id.description), .text(environment)]
            ) { row in
                run = try Self.runRecord(row)
            }
            return run
        }
    }

    public func runs(_ query: RunQuery) async throws -> [RunRecord] {
        try await read { connection in
            var sql = "SELECT \(Self.runColumns) FROM runs WHERE environment = ?"
            var values: [SQLiteValue] = [.text(query.environment)]
            if let functionID = query.functionID {
                sql += " AND function_id = ?"
                values.append(.text(functionID))
            }
            if let status = query.status {
                sql += " AND status = ?"
                values.append(.text(status.rawValue))
            }
            if let eventID = query.eventID {
                sql += " AND event_id = ?"
                values.append(.text(eventID.description))
            }
            if let before = query.before {
                sql += " AND id < ?"
                values.append(.text(before.description))
            }
            sql += " ORDER BY id DESC LIMIT ?"
            values.append(.integer(Int64(max(1, min(query.limit, 1000)))))
            var runs: [RunRecord] = []
            try connection.query(sql, values) { row in runs.append(try Self.runRecord(row)) }
            return runs
        }
    }

    public func steps(runID: RunID) async throws -> [StepRecord] {
        try await read { connection in try Self.steps(runID: runID.description, strict: false, connection: connection) }
    }

    /// A run's steps. `strict` for a replay, which must not go on without a step's output:
    /// an output that cannot be read throws. Otherwise (a listing) the step is listed without
    /// its output, with an error that says why (invariant 7).
    static func steps(runID: String, strict: Bool, connection: SQLiteConnection) throws -> [StepRecord] {
        var steps: [StepRecord] = []
        try connection.query("SELECT \(stepColumns) FROM steps WHERE run_id = ? ORDER BY seq", [.text(runID)]) { row in
            steps.append(try stepRecord(row, strict: strict))
        }
        return steps
    }

    static func runRecord(_ row: SQLiteStatement) throws -> RunRecord {
        guard let id = row.text(0).flatMap(ULID.init), let eventID = row.text(4).flatMap(ULID.init),
              let status = row.text(5).flatMap(RunStatus.init(rawValue:))
        else { throw SQLiteStoreError.corruptRow(table: "runs", reason: "an id, event id or status does not parse") }
        // An output that cannot be read is listed as missing, with an error that says why,
        // rather than making every listing that includes the run throw (invariant 7).
        var output: JSON?
        var error = errorRecord(row.text(8))
        if let text = row.text(7) {
            do {
                output = try JSON(parsing: text)
            } catch let parseError {
                error = ErrorRecord(name: "Stepwise.UnreadableOutput", message: "the output of run \(id) could not be read: \(parseError)")
            }
        }
        return RunRecord(
            id: id, environment: row.text(1) ?? "", appID: row.text(2) ?? "", functionID: row.text(3) ?? "", eventID: eventID,
            status: status, attempt: Int(row.integer(6)), output: output, error: error,
            createdAt: row.integer(9), startedAt: row.isNull(10) ? nil : row.integer(10), endedAt: row.isNull(11) ? nil : row.integer(11),
            availableAt: row.isNull(12) ? nil : row.integer(12), rerunOf: row.text(14).flatMap(ULID.init))
    }

    static func stepRecord(_ row: SQLiteStatement, strict: Bool) throws -> StepRecord {
        guard let runID = row.text(0).flatMap(ULID.init), let key = row.text(1), let stepID = row.text(2),
              let kind = row.text(3).flatMap(StepKind.init(rawValue:)), let status = row.text(4).flatMap(StepStatus.init(rawValue:))
        else { throw SQLiteStoreError.corruptRow(table: "steps", reason: "a key, kind or status does not parse") }
        var output: JSON?
        var error = errorRecord(row.text(6))
        if let text = row.text(5) {
            do {
                output = try JSON(parsing: text)
            } catch let parseError {
                let reason = "the output of step \(key) of run \(runID) could not be read: \(parseError)"
                if strict { throw SQLiteStoreError.corruptRow(table: "steps", reason: reason) }
                error = ErrorRecord(name: "Stepwise.UnreadableOutput", message: reason)
            }
        }
        return StepRecord(
            runID: runID, key: key, stepID: stepID, kind: kind, status: status, output: output, error: error,
            failedAttempts: Int(row.integer(7)), startedAt: row.integer(8), endedAt: row.integer(9))
    }
}
