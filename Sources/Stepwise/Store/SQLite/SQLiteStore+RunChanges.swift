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
            try Self.releaseSlots(of: Self.flow(ofRun: runID.description, connection: connection), now: now, connection: connection)
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
            guard let settings = try Self.settings(
                environment: environment, app: first.appID, function: first.functionID, connection: connection)
            else { throw RerunError(runID: runID, functionID: first.functionID) }
            var event: StoredEvent?
            try connection.query("SELECT \(Self.eventColumns) FROM events WHERE id = ?", [.text(first.eventID.description)]) { row in
                event = try Self.storedEvent(row)
            }
            guard let event else {
                throw SQLiteStoreError.corruptRow(table: "runs", reason: "run \(runID) names event \(first.eventID), which does not exist")
            }
            let run = NewRun.rerun(id: RunID(generator.next(milliseconds: now)), of: first, settings: settings, event: event, now: now)
            try Self.insertRun(run, environment: environment, eventIDs: try Self.eventIDs(of: first, connection: connection), connection: connection)
            let id = run.id.description
            var rerun: RunRecord?
            try connection.query("SELECT \(Self.runColumns) FROM runs WHERE id = ?", [.text(id)]) { row in
                rerun = try Self.runRecord(row)
            }
            return rerun
        }
    }
}

extension SQLiteStore {
    /// The events that started `run`, in order: its one event, or a batch's.
    static func eventIDs(of run: RunRecord, connection: SQLiteConnection) throws -> [EventID] {
        guard run.eventCount > 1 else { return [run.eventID] }
        var ids: [EventID] = []
        try connection.query("SELECT event_id FROM run_events WHERE run_id = ? ORDER BY position", [.text(run.id.description)]) { row in
            if let id = row.text(0).flatMap(EventID.init) { ids.append(id) }
        }
        guard ids.count == run.eventCount else {
            throw SQLiteStoreError.corruptRow(table: "run_events", reason: "run \(run.id) lists \(ids.count) of its \(run.eventCount) events")
        }
        return ids
    }
}
