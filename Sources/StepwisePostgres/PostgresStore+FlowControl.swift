@_spi(StoreImplementation) public import Stepwise
import PostgresNIO

/// Flow control on PostgreSQL: rate limits and throttles applied as runs are inserted, in the
/// general path's transaction, each key serialised by a transaction-level advisory lock on its
/// hash, so that two appends racing on one key count one after the other. Concurrency keys
/// are the claim's and the status trigger's (schema 6).
extension PostgresStore {
    /// Inserts a run with flow keys, unless its rate limit turns it away (kept as an admission
    /// record instead); a throttled run is inserted due at its reserved start.
    ///
    /// - Returns: whether the run was inserted.
    func insertFlowControlledRun(_ run: NewRun, environment: String, eventIDs: [EventID], in transaction: PostgresTransaction) async throws -> Bool {
        guard let eventID = eventIDs.first else { return false }
        if run.rerunOf == nil {
            // A retried append: the run exists, and counting it against its own limit would
            // record a refusal that never happened.
            let exists = try await transaction.row(
                """
                SELECT 1 FROM runs WHERE environment = \(environment) AND app_id = \(run.appID) AND function_id = \(run.functionID)
                  AND event_id = \(eventID.description) AND rerun_of IS NULL
                """)
            if exists != nil { return false }
        }
        guard try await admitsRate(run, eventID: eventID, environment: environment, in: transaction) else { return false }
        var run = run
        if let throttle = run.flow.throttle {
            try await transaction.execute("SELECT pg_advisory_xact_lock(hashtextextended(\(throttle.identity), 0))")
            let tat = try await transaction.row("SELECT tat FROM throttles WHERE key = \(throttle.identity)").map { try $0.integer(0) }
            let placed = ThrottleSchedule.place(run, tat: tat)
            if let tat = placed.tat {
                try await transaction.execute(
                    """
                    INSERT INTO throttles (key, tat) VALUES (\(throttle.identity), \(tat))
                    ON CONFLICT (key) DO UPDATE SET tat = excluded.tat
                    """)
            }
            run = placed.run
        }
        // A key whose turn is taken (or with runs parked ahead) keeps the run parked, in line.
        // Counted without the key's lock, which an append of many keyed runs would take in no
        // sorted order: two appends racing on a key may both find its turn free, and the key
        // then has a run more due than its turn, which coarsens the round-robin, never a limit.
        var waitsTurnOn: String?
        if !run.flow.concurrency.isEmpty {
            waitsTurnOn = try await transaction.row(
                "SELECT key_without_turn(\(run.flow.concurrency.map(\.identity))::text[], \(run.flow.concurrency.map { Int32($0.turn) })::integer[])"
            ).flatMap { try $0.text(0) }
        }
        let availableAt: Int64? = waitsTurnOn == nil ? run.availableAt : nil
        let parkedRank: Int64? = waitsTurnOn == nil ? nil : run.availableAt - run.flow.priorityMilliseconds
        let inserted = try await transaction.execute(
            """
            INSERT INTO runs (id, environment, app_id, function_id, event_id, status, available_at, created_at, rerun_of, event_count,
                              flow, concurrency_key_1, concurrency_key_2, rate_key, batch_key, debounce_key, singleton_key, parked_on, parked_rank)
            VALUES (\(run.id.description), \(environment), \(run.appID), \(run.functionID), \(eventID.description), 'queued',
                    \(availableAt), \(run.createdAt), \(run.rerunOf?.description), \(Int64(eventIDs.count)), \(run.flow.json?.serialized),
                    \(run.flow.concurrencyKey(0)?.identity), \(run.flow.concurrencyKey(1)?.identity), \(run.flow.rateLimit?.key),
                    \(run.flow.batch?.key), \(run.flow.debounce?.key), \(run.flow.singleton?.key), \(waitsTurnOn), \(parkedRank))
            ON CONFLICT DO NOTHING
            """)
        guard inserted == 1 else { return false }
        if eventIDs.count > 1 {
            try await transaction.execute(
                """
                INSERT INTO run_events (run_id, position, event_id)
                SELECT \(run.id.description), position - 1, event_id FROM unnest(\(eventIDs.map(\.description))::text[]) WITH ORDINALITY AS e (event_id, position)
                """)
        }
        try await insertWaits(run.waits.map { (run.id, $0) }, environment: environment, in: transaction)
        return true
    }

    /// Whether `run`'s rate limit admits it, counted under the key's lock; when it does not,
    /// the refusal is recorded.
    func admitsRate(_ run: NewRun, eventID: EventID, environment: String, in transaction: PostgresTransaction) async throws -> Bool {
        guard let limit = run.flow.rateLimit else { return true }
        try await lock(["rate", environment, run.appID, run.functionID, limit.key], in: transaction)
        let count = try await transaction.row(
            """
            SELECT count(*)::bigint FROM runs
            WHERE environment = \(environment) AND app_id = \(run.appID) AND function_id = \(run.functionID) AND rate_key = \(limit.key)
              AND created_at > \(run.createdAt - limit.periodMilliseconds)
            """)
        guard (try count?.integer(0) ?? 0) < Int64(limit.limit) else {
            try await recordAdmission(AdmissionRecord.turnedAway(eventID: eventID, run: run, by: limit), environment: environment, in: transaction)
            return false
        }
        return true
    }

    /// Takes the transaction-level advisory lock of a key, named by its parts.
    private func lock(_ parts: [String], in transaction: PostgresTransaction) async throws {
        let name = JSON.array(parts.map { .string($0) }).serialized
        try await transaction.execute("SELECT pg_advisory_xact_lock(hashtextextended(\(name), 0))")
    }

    /// Places a fanned-out run that a batch, a debounce or a singleton may fold into another
    /// (as SQLite's store does), each key under its advisory lock, and the run it folds into
    /// locked: a claim that took it first leaves it no longer pending, and a new run is made.
    ///
    /// - Returns: whether a run was inserted.
    func place(_ run: NewRun, for event: StoredEvent, in transaction: PostgresTransaction, stored: inout [StoredEvent]) async throws -> Bool {
        let environment = event.environment
        if let batch = run.flow.batch {
            try await lock(["batch", environment, run.appID, run.functionID, batch.key], in: transaction)
            if let open = try await transaction.row(
                """
                SELECT id, event_id, event_count::bigint FROM runs
                WHERE environment = \(environment) AND app_id = \(run.appID) AND function_id = \(run.functionID) AND batch_key = \(batch.key)
                  AND status = 'queued' AND started_at IS NULL AND event_count < \(Int64(batch.maxSize))
                ORDER BY seq LIMIT 1 FOR UPDATE
                """),
               let openID = try open.text(0).flatMap(RunID.init)
            {
                let first = try open.text(1) ?? ""
                let count = try open.integer(2)
                if count == 1 {
                    try await transaction.execute("INSERT INTO run_events (run_id, position, event_id) VALUES (\(openID.description), 0, \(first))")
                }
                try await transaction.execute(
                    "INSERT INTO run_events (run_id, position, event_id) VALUES (\(openID.description), \(Int32(count)), \(event.id.description))")
                try await transaction.execute(
                    """
                    UPDATE runs SET event_count = event_count + 1,
                        available_at = CASE WHEN event_count + 1 >= \(Int64(batch.maxSize)) THEN least(available_at, \(event.receivedAt))
                                            ELSE available_at END
                    WHERE id = \(openID.description)
                    """)
                try await recordAdmission(
                    .batched(eventID: event.id, run: run, into: openID, position: Int(count), of: batch.maxSize), environment: environment,
                    in: transaction)
                return false
            }
            return try await insertFlowControlledRun(
                run.starting(at: run.createdAt + batch.timeoutMilliseconds), environment: environment, eventIDs: [event.id], in: transaction)
        }
        guard try await admitsRate(run, eventID: event.id, environment: environment, in: transaction) else { return false }
        if let debounce = run.flow.debounce {
            try await lock(["debounce", environment, run.appID, run.functionID, debounce.key], in: transaction)
            if let held = try await transaction.row(
                """
                SELECT id, event_id, flow, created_at FROM runs
                WHERE environment = \(environment) AND app_id = \(run.appID) AND function_id = \(run.functionID)
                  AND debounce_key = \(debounce.key) AND status = 'queued' AND started_at IS NULL
                LIMIT 1 FOR UPDATE
                """),
               let heldID = try held.text(0).flatMap(RunID.init), let heldEvent = try held.text(1).flatMap(EventID.init)
            {
                let heldFlow = RunFlow(json: try held.text(2).flatMap { try? JSON(parsing: $0) })
                guard debounce.eventTimestamp >= heldFlow.debounce?.eventTimestamp ?? Int64.min else {
                    try await recordAdmission(
                        .debounced(eventID: event.id, run: run, into: heldID, by: heldEvent, replaced: false), environment: environment,
                        in: transaction)
                    return false
                }
                try await recordAdmission(
                    .debounced(eventID: heldEvent, run: run, into: heldID, by: event.id, replaced: true), environment: environment, in: transaction)
                try await transaction.execute(
                    """
                    UPDATE runs SET event_id = \(event.id.description),
                        available_at = \(debounce.fireAt(firstAt: try held.integer(3), now: event.receivedAt)), flow = \(run.flow.json?.serialized),
                        concurrency_key_1 = \(run.flow.concurrencyKey(0)?.identity), concurrency_key_2 = \(run.flow.concurrencyKey(1)?.identity)
                    WHERE id = \(heldID.description)
                    """)
                // Its cancellations listen for the new event's values.
                try await transaction.execute("DELETE FROM run_waits WHERE run_id = \(heldID.description)")
                try await insertWaits(run.waits.map { (heldID, $0) }, environment: environment, in: transaction)
                return false
            }
            return try await insertFlowControlledRun(
                run.starting(at: debounce.fireAt(firstAt: run.createdAt, now: run.createdAt)), environment: environment, eventIDs: [event.id],
                in: transaction)
        }
        if let singleton = run.flow.singleton {
            try await lock(["singleton", environment, run.appID, run.functionID, singleton.key], in: transaction)
            let holder = try await transaction.row(
                """
                SELECT id FROM runs
                WHERE environment = \(environment) AND app_id = \(run.appID) AND function_id = \(run.functionID)
                  AND singleton_key = \(singleton.key) AND status IN ('queued', 'running', 'sleeping', 'waiting')
                ORDER BY seq LIMIT 1
                """
            ).flatMap { try $0.text(0).flatMap(RunID.init) }
            if let holder {
                switch singleton.mode {
                case .skip:
                    try await recordAdmission(
                        .singletonSkipped(eventID: event.id, run: run, active: holder, key: singleton.key), environment: environment, in: transaction)
                    return false
                case .cancel:
                    try await cancelRun(holder, because: event, reason: "singleton", in: transaction, stored: &stored)
                }
            }
        }
        return try await insertFlowControlledRun(run, environment: environment, eventIDs: [event.id], in: transaction)
    }

    /// Keeps why an accepted event started no run of a function.
    func recordAdmission(_ record: AdmissionRecord, environment: String, in transaction: PostgresTransaction) async throws {
        try await transaction.execute(
            """
            INSERT INTO admissions (environment, event_id, app_id, function_id, reason, detail, run_id, decided_at)
            VALUES (\(environment), \(record.eventID.description), \(record.appID), \(record.functionID), \(record.reason.rawValue),
                    \(record.detail), \(record.runID?.description), \(record.decidedAt))
            """)
    }

    public func admissions(eventID: EventID, environment: String) async throws -> [AdmissionRecord] {
        try await read { transaction in
            try await transaction.rows(
                """
                SELECT app_id, function_id, reason, detail, decided_at, run_id FROM admissions
                WHERE environment = \(environment) AND event_id = \(eventID.description) ORDER BY seq
                """
            ).map { row in
                // A reason this version does not know (written by a newer one) reads as the
                // failure it is closest to rather than hiding the record.
                AdmissionRecord(
                    eventID: eventID, appID: try row.text(0) ?? "", functionID: try row.text(1) ?? "",
                    reason: try row.text(2).flatMap(AdmissionReason.init(rawValue:)) ?? .evaluationFailed, detail: try row.text(3) ?? "",
                    runID: try row.text(5).flatMap(RunID.init), decidedAt: try row.integer(4))
            }
        }
    }
}
