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
    static func resolveWaits(for event: StoredEvent, connection: SQLiteConnection) throws {
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
        var matched: [(seq: Int64, runID: String, stepKey: String)] = []
        for path in paths {
            var sql = "SELECT seq, run_id, step_key FROM run_waits WHERE environment = ? AND event_name = ?"
            var values: [SQLiteValue] = [.text(event.environment), .text(event.name)]
            if let path {
                sql += " AND match_path = ? AND match_value = ?"
                values += [.text(path), .text((envelope.value(atPath: path) ?? .null).serialized)]
            } else {
                sql += " AND match_path IS NULL"
            }
            try connection.query(sql, values) { row in
                matched.append((row.integer(0), row.text(1) ?? "", row.text(2) ?? ""))
            }
        }
        guard !matched.isEmpty else { return }
        let output = StoredEvent.encodedForStep(event).serialized
        for wait in matched {
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
