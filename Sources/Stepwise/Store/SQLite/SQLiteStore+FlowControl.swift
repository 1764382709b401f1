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
        guard try admitsRate(run, eventID: eventID, environment: environment, connection: connection) else { return false }
        var run = run
        if let throttle = run.flow.throttle {
            let tat = try connection.scalarInteger("SELECT tat FROM throttles WHERE key = ?", .text(throttle.identity))
            let placed = ThrottleSchedule.place(run, tat: tat)
            if let tat = placed.tat {
                try connection.run(
                    "INSERT INTO throttles (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat",
                    .text(throttle.identity), .integer(tat))
            }
            run = placed.run
        }
        // A key whose turn is taken (or with runs parked ahead) keeps the run parked, in line.
        let waitsTurnOn = try keyWithoutTurn(of: run.flow, connection: connection)
        let changed = try connection.run(
            """
            INSERT OR IGNORE INTO runs (id, environment, app_id, function_id, event_id, status, available_at, created_at, rerun_of, event_count,
                                        flow, concurrency_key_1, concurrency_key_2, rate_key, batch_key, debounce_key, singleton_key,
                                        parked_on, parked_rank)
            VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            .text(run.id.description), .text(environment), .text(run.appID), .text(run.functionID), .text(eventID.description),
            waitsTurnOn == nil ? .integer(run.availableAt) : .null, .integer(run.createdAt), run.rerunOf.map { .text($0.description) } ?? .null,
            .integer(Int64(eventIDs.count)), run.flow.json.map { .text($0.serialized) } ?? .null,
            run.flow.concurrencyKey(0).map { .text($0.identity) } ?? .null, run.flow.concurrencyKey(1).map { .text($0.identity) } ?? .null,
            run.flow.rateLimit.map { .text($0.key) } ?? .null, run.flow.batch.map { .text($0.key) } ?? .null,
            run.flow.debounce.map { .text($0.key) } ?? .null, run.flow.singleton.map { .text($0.key) } ?? .null,
            waitsTurnOn.map { .text($0.identity) } ?? .null,
            waitsTurnOn == nil ? .null : .integer(run.availableAt - run.flow.priorityMilliseconds))
        guard changed == 1 else { return false }
        try insertRunRows(run, eventIDs: eventIDs, environment: environment, connection: connection)
        return true
    }

    /// Whether `run`'s rate limit admits it; when it does not, the refusal is recorded.
    static func admitsRate(_ run: NewRun, eventID: EventID, environment: String, connection: SQLiteConnection) throws -> Bool {
        guard let limit = run.flow.rateLimit else { return true }
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
        return true
    }

    /// Places a fanned-out run that a batch, a debounce or a singleton may fold into another:
    /// into the open batch of its key, in place of the event a pending debounce holds, or not
    /// at all (or in place of the active run) beside a singleton.
    ///
    /// - Returns: whether a run was inserted.
    static func place(
        _ run: NewRun, for event: StoredEvent, generator: ULIDGenerator, connection: SQLiteConnection, stored: inout [StoredEvent]
    ) throws -> Bool {
        let environment = event.environment
        let function: [SQLiteValue] = [.text(environment), .text(run.appID), .text(run.functionID)]
        if let batch = run.flow.batch {
            var open: (id: String, firstEvent: String, count: Int64)?
            try connection.query(
                """
                SELECT id, event_id, event_count FROM runs
                WHERE environment = ? AND app_id = ? AND function_id = ? AND batch_key = ? AND status = 'queued' AND started_at IS NULL
                  AND event_count < ?
                ORDER BY seq LIMIT 1
                """,
                function + [.text(batch.key), .integer(Int64(batch.maxSize))]
            ) { row in open = (row.text(0) ?? "", row.text(1) ?? "", row.integer(2)) }
            if let open, let openID = RunID(open.id) {
                // A run of one event lists none in run_events; its second lists both.
                if open.count == 1 {
                    try connection.run(
                        "INSERT INTO run_events (run_id, position, event_id) VALUES (?, 0, ?)", .text(open.id), .text(open.firstEvent))
                }
                try connection.run(
                    "INSERT INTO run_events (run_id, position, event_id) VALUES (?, ?, ?)",
                    .text(open.id), .integer(open.count), .text(event.id.description))
                try connection.run(
                    """
                    UPDATE runs SET event_count = event_count + 1,
                        available_at = CASE WHEN event_count + 1 >= ? THEN MIN(available_at, ?) ELSE available_at END
                    WHERE id = ?
                    """,
                    .integer(Int64(batch.maxSize)), .integer(event.receivedAt), .text(open.id))
                try recordAdmission(
                    .batched(eventID: event.id, run: run, into: openID, position: Int(open.count), of: batch.maxSize), environment: environment,
                    connection: connection)
                return false
            }
            return try insertRun(run.starting(at: run.createdAt + batch.timeoutMilliseconds), environment: environment, eventIDs: [event.id], connection: connection)
        }
        guard try admitsRate(run, eventID: event.id, environment: environment, connection: connection) else { return false }
        if let debounce = run.flow.debounce {
            var held: (id: String, event: String, flow: String?, createdAt: Int64)?
            try connection.query(
                """
                SELECT id, event_id, flow, created_at FROM runs
                WHERE environment = ? AND app_id = ? AND function_id = ? AND debounce_key = ? AND status = 'queued' AND started_at IS NULL
                LIMIT 1
                """,
                function + [.text(debounce.key)]
            ) { row in held = (row.text(0) ?? "", row.text(1) ?? "", row.text(2), row.integer(3)) }
            if let held, let heldID = RunID(held.id), let heldEvent = EventID(held.event) {
                let heldFlow = RunFlow(json: held.flow.flatMap { try? JSON(parsing: $0) })
                guard debounce.eventTimestamp >= heldFlow.debounce?.eventTimestamp ?? Int64.min else {
                    try recordAdmission(
                        .debounced(eventID: event.id, run: run, into: heldID, by: heldEvent, replaced: false), environment: environment,
                        connection: connection)
                    return false
                }
                try recordAdmission(
                    .debounced(eventID: heldEvent, run: run, into: heldID, by: event.id, replaced: true), environment: environment,
                    connection: connection)
                try connection.run(
                    """
                    UPDATE runs SET event_id = ?, available_at = ?, flow = ?, concurrency_key_1 = ?, concurrency_key_2 = ?
                    WHERE id = ?
                    """,
                    .text(event.id.description), .integer(debounce.fireAt(firstAt: held.createdAt, now: event.receivedAt)),
                    run.flow.json.map { .text($0.serialized) } ?? .null, run.flow.concurrencyKey(0).map { .text($0.identity) } ?? .null,
                    run.flow.concurrencyKey(1).map { .text($0.identity) } ?? .null, .text(held.id))
                // Its cancellations listen for the new event's values.
                try connection.run("DELETE FROM run_waits WHERE run_id = ?", .text(held.id))
                for wait in run.waits {
                    try insertWait(wait, runID: heldID, environment: environment, connection: connection)
                }
                return false
            }
            return try insertRun(
                run.starting(at: debounce.fireAt(firstAt: run.createdAt, now: run.createdAt)), environment: environment, eventIDs: [event.id],
                connection: connection)
        }
        if let singleton = run.flow.singleton {
            let holder = try connection.scalarText(
                """
                SELECT id FROM runs
                WHERE environment = ? AND app_id = ? AND function_id = ? AND singleton_key = ?
                  AND status IN ('queued', 'running', 'sleeping', 'waiting')
                ORDER BY seq LIMIT 1
                """,
                .text(environment), .text(run.appID), .text(run.functionID), .text(singleton.key)).flatMap(RunID.init)
            if let holder {
                switch singleton.mode {
                case .skip:
                    try recordAdmission(
                        .singletonSkipped(eventID: event.id, run: run, active: holder, key: singleton.key), environment: environment,
                        connection: connection)
                    return false
                case .cancel:
                    try cancelRun(holder, because: event, reason: "singleton", generator: generator, connection: connection, stored: &stored)
                }
            }
        }
        return try insertRun(run, environment: environment, eventIDs: [event.id], connection: connection)
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

    /// How many queued runs of a concurrency key are due (or will be, at a time of their own,
    /// such as a throttle's slot): the ones using the key's turn.
    private static func dueCount(_ identity: String, connection: SQLiteConnection) throws -> Int {
        let first = try connection.scalarInteger(
            "SELECT count(*) FROM runs WHERE concurrency_key_1 = ? AND status = 'queued' AND available_at IS NOT NULL", .text(identity)) ?? 0
        let second = try connection.scalarInteger(
            "SELECT count(*) FROM runs WHERE concurrency_key_2 = ? AND status = 'queued' AND available_at IS NOT NULL", .text(identity)) ?? 0
        return Int(first + second)
    }

    private static func hasParkedRuns(_ identity: String, connection: SQLiteConnection) throws -> Bool {
        try connection.scalarInteger("SELECT 1 FROM runs WHERE parked_on = ? LIMIT 1", .text(identity)) != nil
    }

    /// The first of `flow`'s keys on which a new run must wait in line: one with runs parked
    /// already, which go first, or with its whole turn due.
    static func keyWithoutTurn(of flow: RunFlow, connection: SQLiteConnection) throws -> RunFlow.Concurrency? {
        for key in flow.concurrency {
            if try hasParkedRuns(key.identity, connection: connection) || dueCount(key.identity, connection: connection) >= key.turn {
                return key
            }
        }
        return nil
    }

    /// Parks a due run on a full key: out of the due index until a slot frees, its place kept.
    static func park(runID: String, on key: RunFlow.Concurrency, flow: RunFlow, connection: SQLiteConnection) throws {
        try connection.run(
            "UPDATE runs SET parked_on = ?, parked_rank = available_at - ?, available_at = NULL WHERE id = ?",
            .text(key.identity), .integer(flow.priorityMilliseconds), .text(runID))
    }

    /// Lets go of the runs parked on `flow`'s keys that each has room and turn for: called
    /// whenever a run with those keys may have left `running`, which is always safe, since a
    /// key with no room lets none go.
    static func releaseSlots(of flow: RunFlow, now: Int64, connection: SQLiteConnection) throws {
        for key in flow.concurrency {
            _ = try letGo(key, now: now, connection: connection)
        }
    }

    /// Lets go of as many runs parked on `key` as it has room for (fewer running than its
    /// limit) and turn for (fewer queued due than its ``RunFlow/Concurrency/turn``), the
    /// earliest (by priority) first. Each is due at its own due time or `now`, whichever is
    /// later: behind the runs already due, so that keys take turns. A run parked, then woken
    /// another way (its wait's event came) or ended, is not parked any more and is left alone.
    ///
    /// - Returns: how many runs it let go.
    static func letGo(_ key: RunFlow.Concurrency, now: Int64, connection: SQLiteConnection) throws -> Int {
        guard try hasParkedRuns(key.identity, connection: connection) else { return 0 }
        let room = min(
            key.limit - (try runningCount(key.identity, connection: connection)),
            key.turn - (try dueCount(key.identity, connection: connection)))
        guard room > 0 else { return 0 }
        return try connection.run(
            """
            UPDATE runs SET available_at = MAX(parked_rank + COALESCE(json_extract(flow, '$.priority_s'), 0) * 1000, ?),
                parked_on = NULL, parked_rank = NULL
            WHERE id IN (
                SELECT id FROM runs
                WHERE parked_on = ? AND available_at IS NULL AND status IN ('queued', 'sleeping', 'waiting')
                ORDER BY parked_rank, seq LIMIT ?)
            """,
            .integer(now), .text(key.identity), .integer(Int64(room)))
    }

    /// The flow keys of a run, read inside the transaction that changes it.
    static func flow(ofRun runID: String, connection: SQLiteConnection) throws -> RunFlow {
        RunFlow(json: try connection.scalarText("SELECT flow FROM runs WHERE id = ?", .text(runID)).flatMap { try? JSON(parsing: $0) })
    }

    /// Keeps why an accepted event started no run of a function, after any kept before.
    static func recordAdmission(_ record: AdmissionRecord, environment: String, connection: SQLiteConnection) throws {
        try connection.run(
            """
            INSERT INTO admissions (environment, event_id, position, app_id, function_id, reason, detail, run_id, decided_at)
            VALUES (?1, ?2, (SELECT count(*) FROM admissions WHERE environment = ?1 AND event_id = ?2), ?3, ?4, ?5, ?6, ?7, ?8)
            """,
            .text(environment), .text(record.eventID.description), .text(record.appID), .text(record.functionID),
            .text(record.reason.rawValue), .text(record.detail), record.runID.map { .text($0.description) } ?? .null,
            .integer(record.decidedAt))
    }

    public func admissions(eventID: EventID, environment: String) async throws -> [AdmissionRecord] {
        try await read { connection in
            var records: [AdmissionRecord] = []
            try connection.query(
                """
                SELECT app_id, function_id, reason, detail, decided_at, run_id FROM admissions
                WHERE environment = ? AND event_id = ? ORDER BY position
                """,
                [.text(environment), .text(eventID.description)]
            ) { row in
                // A reason this version does not know (written by a newer one) reads as the
                // failure it is closest to rather than hiding the record.
                records.append(AdmissionRecord(
                    eventID: eventID, appID: row.text(0) ?? "", functionID: row.text(1) ?? "",
                    reason: row.text(2).flatMap(AdmissionReason.init(rawValue:)) ?? .evaluationFailed, detail: row.text(3) ?? "",
                    runID: row.text(5).flatMap(RunID.init), decidedAt: row.integer(4)))
            }
            return records
        }
    }
}
