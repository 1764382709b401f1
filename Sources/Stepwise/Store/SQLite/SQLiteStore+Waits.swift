/// Waits for events: found here by index, decided by the engine (``WaitMatching``), carried
/// out here, in the transaction that stores the event.
extension SQLiteStore {
    /// Whether any run of `environment` waits for an event: when none does (the common case
    /// for a batch), appending skips the per-event look-up of waits.
    static func hasWaits(environment: String, connection: SQLiteConnection) throws -> Bool {
        try connection.scalarInteger("SELECT 1 FROM run_waits WHERE environment = ? LIMIT 1", .text(environment)) != nil
    }

    /// Resolves the waits `event` matches, inside the transaction that stores it.
    ///
    /// The look-up is by index: for each path that waits on this event name use, the event's
    /// value at that path is looked up among the waiting values.
    static func resolveWaits(
        for event: StoredEvent, generator: ULIDGenerator, connection: SQLiteConnection, stored: inout [StoredEvent]
    ) throws {
        let candidates = try waitCandidates(for: event, connection: connection)
        for resolution in WaitMatching.resolutions(for: event, candidates: candidates) {
            switch resolution {
            case .cancelRun(let runID):
                try cancelRun(runID, because: event, generator: generator, connection: connection, stored: &stored)
            case .resumeStep(let runID, let stepKey, let output):
                let resumed = try connection.run(
                    "UPDATE runs SET status = 'queued', available_at = ? WHERE id = ? AND status = 'waiting'",
                    .integer(event.receivedAt), .text(runID.description))
                guard resumed == 1 else { continue }
                try connection.run(
                    "UPDATE steps SET status = 'completed', output = ?, ended_at = ? WHERE run_id = ? AND key = ? AND status = 'waiting'",
                    .text(output.serialized), .integer(event.receivedAt), .text(runID.description), .text(stepKey))
                try connection.run("DELETE FROM run_waits WHERE run_id = ? AND step_key = ?", .text(runID.description), .text(stepKey))
            }
        }
    }

    /// The waits on `event`'s name whose match value is the event's value at their path, or
    /// that match any event of the name.
    private static func waitCandidates(for event: StoredEvent, connection: SQLiteConnection) throws -> [WaitCandidate] {
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
        var candidates: [WaitCandidate] = []
        for path in paths {
            var sql = "SELECT run_id, step_key, kind, expires_at, condition FROM run_waits WHERE environment = ? AND event_name = ?"
            var values: [SQLiteValue] = [environment, name]
            if let path {
                sql += " AND match_path = ? AND match_value = ?"
                values += [.text(path), .text(WaitMatching.indexedValue(of: event, atPath: path))]
            } else {
                sql += " AND match_path IS NULL"
            }
            try connection.query(sql, values) { row in
                guard let runID = row.text(0).flatMap(RunID.init), let kind = row.text(2).flatMap(RunWait.Kind.init(rawValue:)) else { return }
                candidates.append(WaitCandidate(
                    runID: runID, stepKey: row.text(1) ?? "", kind: kind, expiresAt: row.integer(3), condition: row.text(4)))
            }
        }
        return candidates
    }

    /// Cancels a run that has not ended, because `event` arrived (its `cancelOn`), inside the
    /// transaction storing the event: the run ends `cancelled`, its waits are dropped, and its
    /// `stepwise/function.cancelled` is appended in the same transaction.
    static func cancelRun(
        _ runID: RunID, because event: StoredEvent, reason: String = "cancelOn", generator: ULIDGenerator, connection: SQLiteConnection,
        stored: inout [StoredEvent]
    ) throws {
        var run: RunRecord?
        try connection.query(
            """
            UPDATE runs SET status = 'cancelled', error = ?, ended_at = ?, available_at = NULL, lease_owner = NULL
            WHERE id = ? AND status NOT IN ('completed', 'failed', 'cancelled') RETURNING \(runColumns)
            """,
            [try errorValue(.runCancelled(reason: reason)), .integer(event.receivedAt), .text(runID.description)]
        ) { row in run = try runRecord(row) }
        guard let run else { return }
        try connection.run("DELETE FROM run_waits WHERE run_id = ?", .text(runID.description))
        try releaseSlots(of: run.flow, now: event.receivedAt, connection: connection)
        var triggering: StoredEvent?
        try connection.query("SELECT \(eventColumns) FROM events WHERE id = ?", [.text(run.eventID.description)]) { row in
            // An event that cannot be read is left out of the summary: it must not stop the
            // append of the event that cancels the run (invariant 7).
            triggering = try? storedEvent(row)
        }
        let cancelled = SystemEvent.cancelled(
            run: run, triggeringEvent: triggering, reason: reason, cancelledBy: event.id, at: event.receivedAt)
        _ = try appendEvents(
            EventBatch(environment: event.environment, events: [cancelled], receivedAt: event.receivedAt, dedupeWindow: 0),
            generator: generator, connection: connection, stored: &stored)
    }
}
