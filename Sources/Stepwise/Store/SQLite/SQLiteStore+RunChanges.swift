/// Changes made to runs from outside their worker: cancel, rerun and invoke.
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

extension SQLiteStore {
    public func invoke(appID: String, functionID: String, batch: EventBatch) async throws -> RunRecord {
        let generator = idGenerator
        return try await writer.write({ connection -> InvokeResult in
            guard let settings = try Self.settings(environment: batch.environment, app: appID, function: functionID, connection: connection) else {
                throw InvokeError(functionID: functionID, appID: appID, environment: batch.environment)
            }
            var stored: [StoredEvent] = []
            let outcomes = try Self.appendEvents(batch, generator: generator, connection: connection, stored: &stored)
            guard outcomes.count == 1, let event = outcomes[0].accepted else {
                throw SQLiteStoreError.invalidCheckpoint(reason: "an invoke appends exactly one new event")
            }
            let run = NewRun.triggered(
                id: RunID(generator.next(milliseconds: batch.receivedAt)), appID: appID, functionID: functionID, settings: settings, by: event)
            // Not inserted when the event's fan-out started this function already (a trigger on
            // `stepwise/*`): that run is the invoked one.
            try Self.insertRun(run, environment: batch.environment, eventIDs: [event.id], connection: connection)
            var record: RunRecord?
            try connection.query(
                """
                SELECT \(Self.runColumns) FROM runs
                WHERE environment = ? AND app_id = ? AND function_id = ? AND event_id = ? AND rerun_of IS NULL
                """,
                [.text(batch.environment), .text(appID), .text(functionID), .text(event.id.description)]
            ) { row in record = try Self.runRecord(row) }
            guard let record else {
                throw SQLiteStoreError.invalidCheckpoint(reason: "the invoked run of '\(functionID)' was not inserted")
            }
            return InvokeResult(append: AppendResult(outcomes: outcomes, stored: stored), run: record)
        }, afterCommit: { result in Self.publishingStored(batch)?(result.append) }).run
    }

    /// What an invoke's write did: its event, for the bus, and its run.
    struct InvokeResult: Sendable {
        var append: AppendResult
        var run: RunRecord
    }

    public func environments() async throws -> [String] {
        try await read { connection in
            var names: Set<String> = []
            // A skip scan of each index that leads with the environment: one probe per
            // environment, however many events it holds.
            // (events_by_received and the functions' primary key).
            for from in ["events", "functions"] {
                try connection.query(
                    """
                    WITH RECURSIVE found(name) AS (
                        SELECT MIN(environment) FROM \(from)
                        UNION ALL
                        SELECT (SELECT MIN(environment) FROM \(from) WHERE environment > found.name) FROM found WHERE found.name IS NOT NULL
                    )
                    SELECT name FROM found WHERE name IS NOT NULL
                    """, []
                ) { row in if let name = row.text(0) { names.insert(name) } }
            }
            return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        }
    }
}
