/// Reads of runs and their steps.
extension SQLiteStore {
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

    public func runs(holdingConcurrencyKey identity: String, limit: Int) async throws -> [RunRecord] {
        try await read { connection in
            var runs: [RunRecord] = []
            // Two statements, one per key column, each on its partial index.
            for column in ["concurrency_key_1", "concurrency_key_2"] {
                try connection.query(
                    "SELECT \(Self.runColumns) FROM runs WHERE \(column) = ? AND status = 'running' ORDER BY seq LIMIT ?",
                    [.text(identity), .integer(Int64(max(1, min(limit, 1000))))]
                ) { row in runs.append(try Self.runRecord(row)) }
            }
            return Array(runs.sorted { $0.id < $1.id }.prefix(max(1, min(limit, 1000))))
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
}

extension SQLiteStore {
    public func attempts(runID: RunID) async throws -> [StepAttempt] {
        try await read { connection in
            var attempts: [StepAttempt] = []
            try connection.query(
                """
                SELECT a.key, a.attempt, a.status, a.error, a.started_at, a.ended_at FROM step_attempts AS a
                LEFT JOIN steps AS s ON s.run_id = a.run_id AND s.key = a.key
                WHERE a.run_id = ? ORDER BY s.seq, a.attempt
                """,
                [.text(runID.description)]
            ) { row in
                // A status Stepwise did not write is shown as the error it is, not dropped.
                let status = row.text(2).flatMap(StepStatus.init(rawValue:))
                attempts.append(StepAttempt(
                    key: row.text(0) ?? "", number: Int(row.integer(1)), status: status ?? .failed,
                    error: status == nil ? ErrorRecord(name: "Stepwise.UnreadableAttempt", message: "status '\(row.text(2) ?? "")'")
                        : Self.errorRecord(row.text(3)),
                    startedAt: row.integer(4), endedAt: row.integer(5)))
            }
            return attempts
        }
    }
}
