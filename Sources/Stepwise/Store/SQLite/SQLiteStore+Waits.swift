import OrderedCollections

extension SQLiteStore {
    /// Whether any run of `environment` waits for an event: when none does (the common case
    /// for a batch), appending skips the per-event look-up of waits.
    static func hasWaits(environment: String, connection: SQLiteConnection) throws -> Bool {
        try connection.scalarInteger("SELECT 1 FROM run_waits WHERE environment = ? LIMIT 1", .text(environment)) != nil
    }

    /// Resolves the waits `event` matches, inside the transaction that stores it: each
    /// waiting step is completed with the event, and its run queued to resume at once.
    ///
    /// The look-up is by index: for each path that waits on this event name use, the event's
    /// value at that path is looked up among the waiting values. A wait whose run is no
    /// longer `waiting` (it was claimed at its timeout a moment ago) is left alone: the
    /// timeout won.
    static func resolveWaits(
        for event: StoredEvent, generator: ULIDGenerator, connection: SQLiteConnection, stored: inout [StoredEvent]
    ) throws {
        // The distinct paths, found by seeking the index from one to the next (a handful of
        // seeks) rather than by DISTINCT, which would read every waiting row of the name.
        let environment = SQLiteValue.text(event.environment)
        let name = SQLiteValue.text(event.name)
        var paths: [String?] = []
        if try connection.scalarInteger(
            "SELECT 1 FROM run_waits WHERE environment = ? AND event_name = ? AND match_path IS NULL LIMIT 1", environment, name) != nil
        {
            paths.append(nil)
        }
        var after = ""
        while let path = try connection.scalarText(
            "SELECT match_path FROM run_waits WHERE environment = ? AND event_name = ? AND match_path > ? ORDER BY match_path LIMIT 1",
            environment, name, .text(after))
        {
            paths.append(path)
            after = path
        }
        guard !paths.isEmpty else { return }
        let envelope: JSON = ["name": .string(event.name), "data": event.data, "user": event.user ?? .null]
        var matched: [(runID: String, stepKey: String, kind: String, expiresAt: Int64)] = []
        for path in paths {
            var sql = "SELECT run_id, step_key, kind, expires_at, condition FROM run_waits WHERE environment = ? AND event_name = ?"
            var values: [SQLiteValue] = [environment, name]
            if let path {
                sql += " AND match_path = ? AND match_value = ?"
                values += [.text(path), .text((envelope.value(atPath: path) ?? .null).serialized)]
            } else {
                sql += " AND match_path IS NULL"
            }
            try connection.query(sql, values) { row in
                // A condition stored by Stepwise always parses; one that does not matches nothing.
                if let text = row.text(4) {
                    guard let condition = try? EventCondition(text), condition.isSatisfied(by: envelope) else { return }
                }
                matched.append((row.text(0) ?? "", row.text(1) ?? "", row.text(2) ?? "", row.integer(3)))
            }
        }
        guard !matched.isEmpty else { return }
        let output = StoredEvent.encodedForStep(event).serialized
        for wait in matched {
            if wait.kind == "cancel" {
                // Only events received after the run was created are registered here, and
                // only within the cancellation's timeout.
                guard event.receivedAt <= wait.expiresAt, wait.runID != "" else { continue }
                try cancelRun(wait.runID, because: event, generator: generator, connection: connection, stored: &stored)
                continue
            }
            let resumed = try connection.run(
                "UPDATE runs SET status = 'queued', available_at = ? WHERE id = ? AND status = 'waiting'",
                .integer(event.receivedAt), .text(wait.runID))
            guard resumed == 1 else { continue }
            try connection.run(
                "UPDATE steps SET status = 'completed', output = ?, ended_at = ? WHERE run_id = ? AND key = ? AND status = 'waiting'",
                .text(output), .integer(event.receivedAt), .text(wait.runID), .text(wait.stepKey))
            // A wait may listen for several names (an invoke: finished, failed, cancelled).
            try connection.run("DELETE FROM run_waits WHERE run_id = ? AND step_key = ?", .text(wait.runID), .text(wait.stepKey))
        }
    }
}

extension SQLiteStore {
    /// Cancels a run that has not ended, because `event` arrived (its `cancelOn`), inside the
    /// transaction storing the event: the run ends `cancelled`, its waits are dropped, and its
    /// `stepwise/function.cancelled` is appended in the same transaction.
    static func cancelRun(
        _ runID: String, because event: StoredEvent, generator: ULIDGenerator, connection: SQLiteConnection, stored: inout [StoredEvent]
    ) throws {
        var run: RunRecord?
        try connection.query(
            """
            UPDATE runs SET status = 'cancelled', error = ?, ended_at = ?, available_at = NULL, lease_owner = NULL
            WHERE id = ? AND status NOT IN ('completed', 'failed', 'cancelled') RETURNING \(runColumns)
            """,
            [try errorValue(.runCancelled(reason: "cancelOn")), .integer(event.receivedAt), .text(runID)]
        ) { row in run = try runRecord(row) }
        guard let run else { return }
        try connection.run("DELETE FROM run_waits WHERE run_id = ?", .text(runID))
        var data: JSON.Object = [
            "function_id": .string(run.functionID), "app_id": .string(run.appID), "run_id": .string(runID),
            "reason": .string("cancelOn"), "cancelled_by": .string(event.id.description),
        ]
        try connection.query("SELECT \(eventColumns) FROM events WHERE id = ?", [.text(run.eventID.description)]) { row in
            // An event that cannot be read is left out of the summary: it must not stop the
            // append of the event that cancels the run (invariant 7).
            if let triggering = try? storedEvent(row) { data["event"] = SystemEvent.eventSummary(triggering) }
        }
        let cancelled = NewEvent(systemEvent: SystemEvent.functionCancelled, data: .object(data), at: event.receivedAt)
        _ = try appendEvents(
            EventBatch(environment: event.environment, events: [cancelled], receivedAt: event.receivedAt, dedupeWindow: 0),
            generator: generator, connection: connection, stored: &stored)
    }
}
