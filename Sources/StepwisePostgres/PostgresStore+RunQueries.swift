import PostgresNIO
public import Stepwise

/// Reads of runs, their steps and environments: one statement each, on any pooled connection.
extension PostgresStore {
    public func environmentExists(_ environment: String) async throws -> Bool {
        try await read { transaction in
            try await transaction.row(
                """
                SELECT EXISTS (SELECT 1 FROM functions WHERE environment = \(environment))
                    OR EXISTS (SELECT 1 FROM events WHERE environment = \(environment))
                """
            )?[0].decode(Bool.self) ?? false
        }
    }

    /// Every environment with events or functions: a recursive walk of the indexes that lead
    /// with the environment, one probe per environment (PostgreSQL has no skip scan of its
    /// own), sorted by the bytes of the names (`COLLATE "C"`).
    public func environments() async throws -> [String] {
        try await read { transaction in
            try await transaction.rows(
                """
                WITH RECURSIVE found_events(name) AS (
                    SELECT MIN(environment) FROM events
                    UNION ALL
                    SELECT (SELECT MIN(environment) FROM events WHERE environment > found_events.name)
                    FROM found_events WHERE found_events.name IS NOT NULL
                ), found_functions(name) AS (
                    SELECT MIN(environment) FROM functions
                    UNION ALL
                    SELECT (SELECT MIN(environment) FROM functions WHERE environment > found_functions.name)
                    FROM found_functions WHERE found_functions.name IS NOT NULL
                )
                SELECT name FROM found_events WHERE name IS NOT NULL
                UNION
                SELECT name FROM found_functions WHERE name IS NOT NULL
                """
            ).compactMap { try $0.text(0) }
        }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    public func run(id: RunID, environment: String) async throws -> RunRecord? {
        try await read { transaction in
            try await transaction.row(
                "SELECT \(unescaped: Self.runColumns) FROM runs WHERE id = \(id.description) AND environment = \(environment)"
            ).map(Self.runRecord)
        }
    }

    public func runs(holdingConcurrencyKey identity: String, limit: Int) async throws -> [RunRecord] {
        let limit = Int64(max(1, min(limit, 1000)))
        return try await read { transaction in
            try await transaction.rows(
                """
                SELECT \(unescaped: Self.runColumns) FROM runs WHERE concurrency_key_1 = \(identity) AND status = 'running'
                UNION ALL
                SELECT \(unescaped: Self.runColumns) FROM runs WHERE concurrency_key_2 = \(identity) AND status = 'running'
                ORDER BY id LIMIT \(limit)
                """
            ).map(Self.runRecord)
        }
    }

    /// Runs newest first (by id, which sorts as their creation does), 1 to 1000 at a time.
    public func runs(_ query: RunQuery) async throws -> [RunRecord] {
        try await read { transaction in
            try await transaction.rows(
                """
                SELECT \(unescaped: Self.runColumns) FROM runs
                WHERE environment = \(query.environment)
                  AND (\(query.functionID)::text IS NULL OR function_id = \(query.functionID))
                  AND (\(query.status?.rawValue)::text IS NULL OR status = \(query.status?.rawValue))
                  AND (\(query.eventID?.description)::text IS NULL OR event_id = \(query.eventID?.description))
                  AND (\(query.before?.description)::text IS NULL OR id < \(query.before?.description))
                ORDER BY id DESC LIMIT \(Int64(max(1, min(query.limit, 1000))))
                """
            ).map(Self.runRecord)
        }
    }

    public func steps(runID: RunID) async throws -> [StepRecord] {
        try await read { transaction in
            try await transaction.rows(
                "SELECT \(unescaped: Self.stepColumns) FROM steps WHERE run_id = \(runID.description) ORDER BY seq"
            ).map { try Self.stepRecord($0, strict: false) }
        }
    }

    public func attempts(runID: RunID) async throws -> [StepAttempt] {
        try await read { transaction in
            try await transaction.rows(
                """
                SELECT a.key, a.attempt::bigint, a.status, a.error, a.started_at, a.ended_at FROM step_attempts a
                LEFT JOIN steps s ON s.run_id = a.run_id AND s.key = a.key
                WHERE a.run_id = \(runID.description) ORDER BY s.seq, a.attempt
                """
            ).map { row in
                // A status Stepwise did not write is shown as the error it is, not dropped.
                let statusText = try row.text(2)
                let status = statusText.flatMap(StepStatus.init(rawValue:))
                return StepAttempt(
                    key: try row.text(0) ?? "", number: Int(try row.integer(1)), status: status ?? .failed,
                    error: status == nil
                        ? ErrorRecord(name: "Stepwise.UnreadableAttempt", message: "status '\(statusText ?? "")'") : Self.errorRecord(try row.text(3)),
                    startedAt: try row.integer(4), endedAt: try row.integer(5))
            }
        }
    }
}
