import PostgresNIO
public import Stepwise

/// Retention (``StoreRetention``): one batch per transaction, three statements. The runs are
/// locked as they are chosen (`FOR UPDATE SKIP LOCKED`): a rerun reading one (`FOR SHARE`)
/// either finds it gone or holds it until it has named the run's events in a run of its own,
/// which the events statement, run after it commits, then sees.
extension PostgresStore: StoreRetention {
    public func prune(_ request: PruneRequest) async throws -> PruneResult {
        let environment = request.environment
        let before = request.before
        let limit = Int64(request.limit)
        let result = try await transaction { transaction -> PruneResult in
            var result = PruneResult()
            if let row = try await transaction.row(
                """
                WITH doomed AS (
                    SELECT id FROM runs
                    WHERE environment = \(environment) AND status IN ('completed', 'failed', 'cancelled') AND ended_at < \(before)
                    ORDER BY ended_at LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED
                ), deleted_steps AS (
                    DELETE FROM steps WHERE run_id IN (SELECT id FROM doomed) RETURNING 1
                ), deleted_attempts AS (
                    DELETE FROM step_attempts WHERE run_id IN (SELECT id FROM doomed)
                ), deleted_waits AS (
                    DELETE FROM run_waits WHERE run_id IN (SELECT id FROM doomed)
                ), deleted_lists AS (
                    DELETE FROM run_events WHERE run_id IN (SELECT id FROM doomed)
                ), deleted_runs AS (
                    DELETE FROM runs WHERE id IN (SELECT id FROM doomed) RETURNING 1
                )
                SELECT (SELECT count(*) FROM deleted_runs), (SELECT count(*) FROM deleted_steps)
                """)
            {
                result.runs = Int(try row.integer(0))
                result.steps = Int(try row.integer(1))
            }
            // Why an event started no run goes with it.
            result.events = Int(try await transaction.row(
                """
                WITH gone AS (
                    DELETE FROM events WHERE id IN (
                        SELECT id FROM events AS e
                        WHERE environment = \(environment) AND received_at < \(before)
                          AND NOT EXISTS (SELECT 1 FROM runs AS r WHERE r.event_id = e.id)
                          AND NOT EXISTS (SELECT 1 FROM run_events AS l WHERE l.event_id = e.id)
                        ORDER BY received_at LIMIT \(limit)
                        FOR UPDATE SKIP LOCKED)
                    RETURNING id
                ), records AS (
                    DELETE FROM admissions WHERE environment = \(environment) AND event_id IN (SELECT id FROM gone) RETURNING 1
                )
                SELECT count(*)::bigint FROM gone
                """)?.integer(0) ?? 0)
            result.dedupeKeys = try await transaction.execute(
                """
                DELETE FROM event_dedupe WHERE environment = \(environment) AND dedupe_id IN (
                    SELECT dedupe_id FROM event_dedupe
                    WHERE environment = \(environment) AND accepted_at < \(request.dedupeBefore)
                    LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED)
                """)
            result.throttleKeys = try await transaction.execute(
                """
                DELETE FROM throttles WHERE key IN (
                    SELECT key FROM throttles WHERE tat < \(request.beforeMicroseconds) LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                """)
            return result
        }
        return result
    }

    public func sizes(environment: String) async throws -> StoreSizes {
        try await read { transaction in
            guard let row = try await transaction.row(
                """
                SELECT (SELECT count(*) FROM events WHERE environment = \(environment)),
                       (SELECT count(*) FROM runs WHERE environment = \(environment)),
                       (SELECT count(*) FROM steps WHERE run_id IN (SELECT id FROM runs WHERE environment = \(environment))),
                       (SELECT count(*) FROM event_dedupe WHERE environment = \(environment)),
                       (SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class AS c
                        JOIN pg_namespace AS n ON n.oid = c.relnamespace
                        WHERE n.nspname = current_schema() AND c.relkind = 'r')
                """)
            else { return StoreSizes(events: 0, runs: 0, steps: 0, dedupeKeys: 0, bytes: nil) }
            return StoreSizes(
                events: Int(try row.integer(0)), runs: Int(try row.integer(1)), steps: Int(try row.integer(2)),
                dedupeKeys: Int(try row.integer(3)), bytes: try row.optionalInteger(4))
        }
    }
}
