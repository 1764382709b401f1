/// Changes made to runs from outside their worker: cancel and rerun.
extension SQLiteStore {
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
}
