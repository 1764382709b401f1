/// Retention (``StoreRetention``): one batch per write, through the writer's queue like any
/// other write, so that appends and checkpoints wait for one batch at most.
extension SQLiteStore: StoreRetention {
    public func prune(_ request: PruneRequest) async throws -> PruneResult {
        try await writer.write { connection in
            var result = PruneResult()
            let environment = SQLiteValue.text(request.environment)
            let limit = SQLiteValue.integer(Int64(request.limit))
            var runIDs: [String] = []
            try connection.query(
                """
                SELECT id FROM runs INDEXED BY runs_ended
                WHERE environment = ? AND status IN ('completed', 'failed', 'cancelled') AND ended_at < ?
                ORDER BY ended_at LIMIT ?
                """,
                [environment, .integer(request.before), limit]
            ) { row in
                if let id = row.text(0) { runIDs.append(id) }
            }
            for id in runIDs {
                let run = SQLiteValue.text(id)
                result.steps += try connection.run("DELETE FROM steps WHERE run_id = ?", run)
                _ = try connection.run("DELETE FROM step_attempts WHERE run_id = ?", run)
                _ = try connection.run("DELETE FROM run_waits WHERE run_id = ?", run)
                _ = try connection.run("DELETE FROM run_events WHERE run_id = ?", run)
                result.runs += try connection.run("DELETE FROM runs WHERE id = ?", run)
            }
            // In the same transaction as the runs above: an event whose last run just went
            // goes in this batch; one a run still names stays.
            var eventIDs: [String] = []
            try connection.query(
                """
                SELECT id FROM events AS e
                WHERE environment = ? AND received_at < ?
                  AND NOT EXISTS (SELECT 1 FROM runs AS r WHERE r.event_id = e.id)
                  AND NOT EXISTS (SELECT 1 FROM run_events AS l WHERE l.event_id = e.id)
                ORDER BY received_at LIMIT ?
                """,
                [environment, .integer(request.before), limit]
            ) { row in
                if let id = row.text(0) { eventIDs.append(id) }
            }
            for id in eventIDs {
                result.events += try connection.run("DELETE FROM events WHERE id = ?", .text(id))
                // Why it started no run goes with it.
                try connection.run("DELETE FROM admissions WHERE environment = ? AND event_id = ?", environment, .text(id))
            }
            result.dedupeKeys = try connection.run(
                """
                DELETE FROM event_dedupe WHERE environment = ?1 AND dedupe_id IN (
                    SELECT dedupe_id FROM event_dedupe WHERE environment = ?1 AND accepted_at < ?2 LIMIT ?3)
                """,
                environment, .integer(request.dedupeBefore), limit)
            result.throttleKeys = try connection.run(
                "DELETE FROM throttles WHERE key IN (SELECT key FROM throttles WHERE tat < ? LIMIT ?)",
                .integer(request.beforeMicroseconds), limit)
            return result
        }
    }

    public func sizes(environment: String) async throws -> StoreSizes {
        try await read { connection in
            let environment = SQLiteValue.text(environment)
            func count(_ sql: String) throws -> Int { Int(try connection.scalarInteger(sql, environment) ?? 0) }
            let pageSize = try connection.scalarInteger("PRAGMA page_size") ?? 0
            let pages = try connection.scalarInteger("PRAGMA page_count") ?? 0
            let free = try connection.scalarInteger("PRAGMA freelist_count") ?? 0
            return StoreSizes(
                events: try count("SELECT count(*) FROM events WHERE environment = ?"),
                runs: try count("SELECT count(*) FROM runs WHERE environment = ?"),
                steps: try count("SELECT count(*) FROM steps WHERE run_id IN (SELECT id FROM runs WHERE environment = ?)"),
                dedupeKeys: try count("SELECT count(*) FROM event_dedupe WHERE environment = ?"),
                // Pages in use: deleted rows' pages go to the free list, for new rows to reuse,
                // rather than shrinking the file (sqlite.org/lang_vacuum.html).
                bytes: (pages - free) * pageSize)
        }
    }
}
