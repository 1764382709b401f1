/// Flow control: rate limits and throttles applied as runs are inserted, concurrency keys as
/// they are claimed and as they leave, and the records of events that started no run.
/// Everything runs inside the writer's transaction, one at a time, so no two callers can both
/// see room that only one of them may take.
extension SQLiteStore {
    /// Inserts a run with flow keys, unless its rate limit turns it away (kept as an admission
    /// record instead); a throttled run is inserted due at its reserved start.
    ///
    /// - Returns: whether the run was inserted.
    static func insertFlowControlledRun(_ run: NewRun, environment: String, eventIDs: [EventID], connection: SQLiteConnection) throws -> Bool {
        guard let eventID = eventIDs.first else { return false }
        if run.rerunOf == nil {
            // A retried append: the run exists, and counting it against its own limit would
            // record a refusal that never happened.
            let exists = try connection.scalarInteger(
                "SELECT 1 FROM runs WHERE environment = ? AND app_id = ? AND function_id = ? AND event_id = ? AND rerun_of IS NULL",
                .text(environment), .text(run.appID), .text(run.functionID), .text(eventID.description))
            if exists != nil { return false }
        }
        if let limit = run.flow.rateLimit {
            let admitted = try connection.scalarInteger(
                """
                SELECT count(*) FROM runs
                WHERE environment = ? AND app_id = ? AND function_id = ? AND rate_key = ? AND created_at > ?
                """,
                .text(environment), .text(run.appID), .text(run.functionID), .text(limit.key), .integer(run.createdAt - limit.periodMilliseconds)) ?? 0
            guard admitted < limit.limit else {
                try recordAdmission(AdmissionRecord.turnedAway(eventID: eventID, run: run, by: limit), environment: environment, connection: connection)
                return false
            }
        }
        var run = run
        if let throttle = run.flow.throttle {
            let tat = try connection.scalarInteger("SELECT tat FROM throttles WHERE key = ?", .text(throttle.identity))
            let reserved = ThrottleSchedule.reserve(tat: tat, due: run.availableAt, throttle: throttle)
            try connection.run(
                "INSERT INTO throttles (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat",
                .text(throttle.identity), .integer(reserved.tat))
            run = run.starting(at: reserved.start)
        }
        let changed = try connection.run(
            """
            INSERT OR IGNORE INTO runs (id, environment, app_id, function_id, event_id, status, available_at, created_at, rerun_of, event_count,
                                        flow, concurrency_key_1, concurrency_key_2, rate_key)
            VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            .text(run.id.description), .text(environment), .text(run.appID), .text(run.functionID), .text(eventID.description),
            .integer(run.availableAt), .integer(run.createdAt), run.rerunOf.map { .text($0.description) } ?? .null,
            .integer(Int64(eventIDs.count)), run.flow.json.map { .text($0.serialized) } ?? .null,
            run.flow.concurrencyKey(0).map { .text($0.identity) } ?? .null, run.flow.concurrencyKey(1).map { .text($0.identity) } ?? .null,
            run.flow.rateLimit.map { .text($0.key) } ?? .null)
        guard changed == 1 else { return false }
        try insertRunRows(run, eventIDs: eventIDs, environment: environment, connection: connection)
        return true
    }

    /// The first of `flow`'s concurrency keys with no room for one more executing run.
    static func fullKey(of flow: RunFlow, connection: SQLiteConnection) throws -> RunFlow.Concurrency? {
        for key in flow.concurrency where try runningCount(key.identity, connection: connection) >= key.limit {
            return key
        }
        return nil
    }

    /// How many runs execute under a concurrency key, in either of a run's two key columns.
    private static func runningCount(_ identity: String, connection: SQLiteConnection) throws -> Int {
        let first = try connection.scalarInteger(
            "SELECT count(*) FROM runs WHERE concurrency_key_1 = ? AND status = 'running'", .text(identity)) ?? 0
        let second = try connection.scalarInteger(
            "SELECT count(*) FROM runs WHERE concurrency_key_2 = ? AND status = 'running'", .text(identity)) ?? 0
        return Int(first + second)
    }

    /// Parks a due run on a full key: out of the due index until a slot frees, its place kept.
    static func park(runID: String, on key: RunFlow.Concurrency, flow: RunFlow, connection: SQLiteConnection) throws {
        try connection.run(
            "UPDATE runs SET parked_on = ?, parked_rank = available_at - ?, available_at = NULL WHERE id = ?",
            .text(key.identity), .integer(flow.priorityMilliseconds), .text(runID))
    }

    /// Lets go of as many runs parked on `flow`'s keys as each has room for, the earliest (by
    /// priority) first: called whenever a run with those keys may have left `running`, which
    /// is always safe, since a key with no room lets none go.
    static func releaseSlots(of flow: RunFlow, now: Int64, connection: SQLiteConnection) throws {
        for key in flow.concurrency {
            let room = key.limit - (try runningCount(key.identity, connection: connection))
            guard room > 0 else { continue }
            try connection.run(
                """
                UPDATE runs SET available_at = MIN(parked_rank, ?), parked_on = NULL, parked_rank = NULL
                WHERE id IN (SELECT id FROM runs WHERE parked_on = ? ORDER BY parked_rank, seq LIMIT ?)
                """,
                .integer(now), .text(key.identity), .integer(Int64(room)))
        }
    }

    /// The flow keys of a run, read inside the transaction that changes it.
    static func flow(ofRun runID: String, connection: SQLiteConnection) throws -> RunFlow {
        RunFlow(json: try connection.scalarText("SELECT flow FROM runs WHERE id = ?", .text(runID)).flatMap { try? JSON(parsing: $0) })
    }

    /// Keeps why an accepted event started no run of a function, after any kept before.
    static func recordAdmission(_ record: AdmissionRecord, environment: String, connection: SQLiteConnection) throws {
        try connection.run(
            """
            INSERT INTO admissions (environment, event_id, position, app_id, function_id, reason, detail, decided_at)
            VALUES (?1, ?2, (SELECT count(*) FROM admissions WHERE environment = ?1 AND event_id = ?2), ?3, ?4, ?5, ?6, ?7)
            """,
            .text(environment), .text(record.eventID.description), .text(record.appID), .text(record.functionID),
            .text(record.reason.rawValue), .text(record.detail), .integer(record.decidedAt))
    }

    public func admissions(eventID: EventID, environment: String) async throws -> [AdmissionRecord] {
        try await read { connection in
            var records: [AdmissionRecord] = []
            try connection.query(
                """
                SELECT app_id, function_id, reason, detail, decided_at FROM admissions
                WHERE environment = ? AND event_id = ? ORDER BY position
                """,
                [.text(environment), .text(eventID.description)]
            ) { row in
                // A reason this version does not know (written by a newer one) reads as the
                // failure it is closest to rather than hiding the record.
                records.append(AdmissionRecord(
                    eventID: eventID, appID: row.text(0) ?? "", functionID: row.text(1) ?? "",
                    reason: row.text(2).flatMap(AdmissionReason.init(rawValue:)) ?? .evaluationFailed, detail: row.text(3) ?? "",
                    decidedAt: row.integer(4)))
            }
            return records
        }
    }
}
