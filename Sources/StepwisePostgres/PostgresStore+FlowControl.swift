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
        if let limit = run.flow.rateLimit {
            let lock = JSON.array([.string("rate"), .string(environment), .string(run.appID), .string(run.functionID), .string(limit.key)]).serialized
            try await transaction.execute("SELECT pg_advisory_xact_lock(hashtextextended(\(lock), 0))")
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
        }
        var run = run
        if let throttle = run.flow.throttle {
            try await transaction.execute("SELECT pg_advisory_xact_lock(hashtextextended(\(throttle.identity), 0))")
            let tat = try await transaction.row("SELECT tat FROM throttles WHERE key = \(throttle.identity)").map { try $0.integer(0) }
            let reserved = ThrottleSchedule.reserve(tat: tat, due: run.availableAt, throttle: throttle)
            try await transaction.execute(
                """
                INSERT INTO throttles (key, tat) VALUES (\(throttle.identity), \(reserved.tat))
                ON CONFLICT (key) DO UPDATE SET tat = excluded.tat
                """)
            run = run.starting(at: reserved.start)
        }
        let inserted = try await transaction.execute(
            """
            INSERT INTO runs (id, environment, app_id, function_id, event_id, status, available_at, created_at, rerun_of, event_count,
                              flow, concurrency_key_1, concurrency_key_2, rate_key)
            VALUES (\(run.id.description), \(environment), \(run.appID), \(run.functionID), \(eventID.description), 'queued',
                    \(run.availableAt), \(run.createdAt), \(run.rerunOf?.description), \(Int64(eventIDs.count)), \(run.flow.json?.serialized),
                    \(run.flow.concurrencyKey(0)?.identity), \(run.flow.concurrencyKey(1)?.identity), \(run.flow.rateLimit?.key))
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

    /// Keeps why an accepted event started no run of a function.
    func recordAdmission(_ record: AdmissionRecord, environment: String, in transaction: PostgresTransaction) async throws {
        try await transaction.execute(
            """
            INSERT INTO admissions (environment, event_id, app_id, function_id, reason, detail, decided_at)
            VALUES (\(environment), \(record.eventID.description), \(record.appID), \(record.functionID), \(record.reason.rawValue),
                    \(record.detail), \(record.decidedAt))
            """)
    }

    public func admissions(eventID: EventID, environment: String) async throws -> [AdmissionRecord] {
        try await read { transaction in
            try await transaction.rows(
                """
                SELECT app_id, function_id, reason, detail, decided_at FROM admissions
                WHERE environment = \(environment) AND event_id = \(eventID.description) ORDER BY seq
                """
            ).map { row in
                // A reason this version does not know (written by a newer one) reads as the
                // failure it is closest to rather than hiding the record.
                AdmissionRecord(
                    eventID: eventID, appID: try row.text(0) ?? "", functionID: try row.text(1) ?? "",
                    reason: try row.text(2).flatMap(AdmissionReason.init(rawValue:)) ?? .evaluationFailed, detail: try row.text(3) ?? "",
                    decidedAt: try row.integer(4))
            }
        }
    }
}
