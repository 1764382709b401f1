import Foundation
@_spi(StoreImplementation) public import Stepwise
import PostgresNIO

/// Claims and leases: which runs are due, who holds them, and for how long.
extension PostgresStore {
    public func claim(_ request: ClaimRequest) async throws -> [ClaimedRun] {
        guard request.limit > 0, !request.functionIDs.isEmpty else { return [] }
        let (claimed, unreadable) = try await transaction { transaction in
            // One statement: the due runs, locked as they are found, skipping those another
            // claimer holds ("provides an inconsistent view of the data, so it is not suitable
            // for general purpose work, but can be used to avoid lock contention with multiple
            // consumers accessing a queue-like table": the SELECT docs), then moved on to a new
            // lease. `due.status` is the status the run was claimed out of.
            let rows = try await transaction.rows(
                """
                WITH due AS (
                    SELECT id, status FROM runs
                    WHERE environment = \(request.environment) AND app_id = \(request.appID)
                      AND status IN ('queued', 'running', 'sleeping', 'waiting') AND available_at <= \(request.now)
                      AND function_id = ANY(\(request.functionIDs)::text[])
                    ORDER BY available_at, seq
                    LIMIT \(Int64(request.limit))
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE runs r SET status = 'running', lease_token = r.lease_token + 1, lease_owner = \(request.owner),
                    available_at = \(request.now + request.leaseDuration), started_at = coalesce(r.started_at, \(request.now))
                FROM due WHERE r.id = due.id
                RETURNING \(unescaped: Self.runColumns.split(separator: ",").map { "r." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")), due.status
                """)
            var runs: [(record: RunRecord, token: Int64, claimedFrom: RunStatus)] = []
            for row in rows {
                let record = try Self.runRecord(row)
                runs.append((record, try row.integer(15), try row.text(16).flatMap(RunStatus.init(rawValue:)) ?? .queued))
            }
            guard !runs.isEmpty else { return ([ClaimedRun](), [RunID]()) }
            let ids = runs.map(\.record.id.description)
            // Their events (the first, or a batch's in order) and their steps, two statements
            // for all of them.
            let eventRows = try await transaction.rows(
                """
                SELECT r.id, \(unescaped: Self.eventColumns.split(separator: ",").map { "e." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", "))
                FROM runs r
                LEFT JOIN run_events re ON re.run_id = r.id
                JOIN events e ON e.id = coalesce(re.event_id, r.event_id)
                WHERE r.id = ANY(\(ids)::text[])
                ORDER BY r.id, re.position
                """)
            var events: [RunID: [Result<StoredEvent, any Error>]] = [:]
            for row in eventRows {
                guard let runID = try row.text(0).flatMap(RunID.init) else { continue }
                events[runID, default: []].append(Result { try Self.storedEvent(row, offset: 1) })
            }
            var steps: [RunID: [Result<StepRecord, any Error>]] = [:]
            for row in try await transaction.rows(
                "SELECT \(unescaped: Self.stepColumns) FROM steps WHERE run_id = ANY(\(ids)::text[]) ORDER BY seq")
            {
                guard let runID = try row.text(0).flatMap(RunID.init) else { continue }
                steps[runID, default: []].append(Result { try Self.stepRecord(row, strict: true) })
            }
            var claimed: [ClaimedRun] = []
            var unreadable: [(RunID, String)] = []
            for run in runs {
                let id = run.record.id
                do {
                    let runEvents = try (events[id] ?? []).map { try $0.get() }
                    guard let first = runEvents.first, runEvents.count == run.record.eventCount else {
                        throw PostgresStoreError.corruptRow(table: "events", reason: "an event of run \(id) is missing")
                    }
                    let runSteps = try (steps[id] ?? []).map { try $0.get() }
                    claimed.append(ClaimedRun(
                        run: run.record, lease: RunLease(runID: id, token: run.token, owner: request.owner), event: first, events: runEvents,
                        steps: Dictionary(runSteps.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last }), claimedFrom: run.claimedFrom,
                        claimedAt: request.now))
                } catch {
                    unreadable.append((id, "\(error)"))
                }
            }
            // A run whose event or steps cannot be read cannot be replayed: it fails here,
            // alone, and the others are claimed (DESIGN.md, invariant 7).
            for (id, reason) in unreadable {
                try await transaction.execute(
                    """
                    UPDATE runs SET status = 'failed', error = \(Self.errorText(.unreadableRun(reason: reason))), available_at = NULL,
                        ended_at = \(request.now)
                    WHERE id = \(id.description)
                    """)
                try await transaction.execute("DELETE FROM run_waits WHERE run_id = \(id.description)")
            }
            return (claimed, unreadable.map(\.0))
        }
        if !unreadable.isEmpty {
            logger.error("stepwise.postgres failed unreadable runs", metadata: ["runs": "\(unreadable.map(\.description))"])
        }
        return claimed
    }

    public func renew(_ leases: [RunLease], until: Int64) async throws -> [RunLease] {
        guard !leases.isEmpty else { return [] }
        return try await transaction { transaction in
            let ids = leases.map(\.runID.description)
            // Extends the leases still held. A lease is lost only when another claim moved its
            // token on, not when its holder set the run aside or ended it since the leases
            // were listed: those not extended are read again, by a statement of its own, which
            // sees a claim that committed while the first waited for its row.
            let renewed = Set(try await transaction.rows(
                """
                UPDATE runs r SET available_at = \(until)
                FROM unnest(\(ids)::text[], \(leases.map(\.token))::bigint[]) AS l (id, token)
                WHERE r.id = l.id AND r.lease_token = l.token AND r.status = 'running'
                RETURNING r.id
                """
            ).compactMap { try $0.text(0).flatMap(RunID.init) })
            let others = leases.filter { !renewed.contains($0.runID) }
            guard !others.isEmpty else { return [] }
            var tokens: [RunID: Int64] = [:]
            for row in try await transaction.rows(
                "SELECT id, lease_token FROM runs WHERE id = ANY(\(others.map(\.runID.description))::text[])")
            {
                if let id = try row.text(0).flatMap(RunID.init) { tokens[id] = try row.integer(1) }
            }
            return others.filter { tokens[$0.runID] != $0.token }
        }
    }

    public func nextDueTime(environment: String, appID: String, functionIDs: [String]) async throws -> Int64? {
        guard !functionIDs.isEmpty else { return nil }
        return try await read { transaction in
            try await transaction.row(
                """
                SELECT least(
                    (SELECT min(available_at) FROM runs
                     WHERE environment = \(environment) AND app_id = \(appID) AND function_id = ANY(\(functionIDs)::text[])
                       AND status IN ('queued', 'running', 'sleeping', 'waiting')),
                    (SELECT min(next_at) FROM cron_schedules
                     WHERE environment = \(environment) AND app_id = \(appID) AND function_id = ANY(\(functionIDs)::text[])))
                """
            )?.optionalInteger(0)
        }
    }
}
