/// Claims and leases: which runs are due, who holds them, and for how long.
extension SQLiteStore {
    public func claim(_ request: ClaimRequest) async throws -> [ClaimedRun] {
        guard let claim = Self.prepared(request) else { return [] }
        return try await writer.write(claim)
    }

    /// `request` as the writer runs it, its function ids serialized once, off the writer's
    /// thread; `nil` for a request that can claim nothing (no room, no functions).
    static func prepared(_ request: ClaimRequest) -> (@Sendable (SQLiteConnection) throws -> [ClaimedRun])? {
        guard request.limit > 0, !request.functionIDs.isEmpty else { return nil }
        let functionIDs = JSON.array(request.functionIDs.map { .string($0) }).serialized
        return { connection in try claimDueRuns(request, functionIDs: functionIDs, connection: connection) }
    }

    /// A write that stores events (an append, a checkpoint), then the claim, in one trip to
    /// the writer and one commit; what was claimed is handed over before the events are
    /// published, as ``StoreClaimingWrites`` asks.
    func writeThenClaim(
        _ request: ClaimRequest, publishing batch: EventBatch?, handOver: @escaping @Sendable (ClaimingWriteResult) -> Void,
        _ body: @escaping @Sendable (SQLiteConnection) throws -> AppendResult
    ) async throws -> ClaimingWriteResult {
        let claim = Self.prepared(request)
        let publish = Self.publishingStored(batch)
        let (appended, claimed) = try await writer.write({ connection in
            let appended = try body(connection)
            return (appended, try claim?(connection) ?? [])
        }, afterCommit: { appended, claimed in
            handOver(ClaimingWriteResult(outcomes: appended.outcomes, claimed: claimed))
            publish?(appended)
        })
        return ClaimingWriteResult(outcomes: appended.outcomes, claimed: claimed)
    }

    /// Claims due runs for `request` inside the writer's transaction; `functionIDs` is the
    /// request's function ids as a JSON array, for `json_each`.
    static func claimDueRuns(_ request: ClaimRequest, functionIDs: String, connection: SQLiteConnection) throws -> [ClaimedRun] {
        var claimed: [ClaimedRun] = []
        // Runs parked on a full concurrency key leave the due set, and runs let go in turn
        // join it, so the next page holds others; the pages are bounded so that a claim
        // never holds the writer for long.
        for _ in 0..<Self.claimPages {
            var ids: [(id: String, status: String, flow: String?, dueAt: Int64)] = []
            try connection.query(
                """
                SELECT id, status, flow, available_at FROM runs
                WHERE environment = ? AND app_id = ? AND status IN ('queued', 'running', 'sleeping', 'waiting') AND available_at <= ?
                  AND function_id IN (SELECT value FROM json_each(?))
                ORDER BY available_at LIMIT ?
                """,
                [.text(request.environment), .text(request.appID), .integer(request.now), .text(functionIDs),
                 .integer(Int64(request.limit - claimed.count))]
            ) { row in
                if let id = row.text(0) { ids.append((id, row.text(1) ?? "", row.text(2), row.integer(3))) }
            }
            var parked = 0
            // The keys whose turn a queued run claimed here used: the next in line is let
            // go once the page is done, so a busy key keeps runs due behind the others.
            var turnsTaken: [String: RunFlow.Concurrency] = [:]
            for (id, previousStatus, flowText, dueAt) in ids {
                // A run that is not executing takes a slot of each of its concurrency
                // keys; with no room on one, it is parked until a run holding it leaves.
                var flow: RunFlow?
                if previousStatus != RunStatus.running.rawValue, let flowText {
                    let keyed = RunFlow(json: try? JSON(parsing: flowText))
                    if let full = try Self.fullKey(of: keyed, connection: connection) {
                        try Self.park(runID: id, on: full, flow: keyed, connection: connection)
                        parked += 1
                        continue
                    }
                    flow = keyed
                }
                do {
                    if let run = try Self.claim(runID: id, previousStatus: previousStatus, dueAt: dueAt, request, connection: connection) {
                        claimed.append(run)
                        if previousStatus == RunStatus.queued.rawValue, let flow {
                            for key in flow.concurrency { turnsTaken[key.identity] = key }
                        }
                    }
                } catch SQLiteStoreError.corruptRow(_, let reason) {
                    // One run that cannot be replayed fails alone, here, rather than failing
                    // every claim that would include it (invariant 7).
                    try Self.failUnreadable(runID: id, reason: reason, now: request.now, connection: connection)
                }
            }
            var letGo = 0
            for key in turnsTaken.values.sorted(by: { $0.identity < $1.identity }) {
                letGo += try Self.letGo(key, now: request.now, connection: connection)
            }
            guard parked + letGo > 0, claimed.count < request.limit else { break }
        }
        return claimed
    }

    /// How many pages of due runs one claim reads at most, when runs it meets are parked or
    /// let go.
    static let claimPages = 64

    /// Claims one run inside the claim's transaction: its new lease, its event and its steps.
    ///
    /// - Throws: ``SQLiteStoreError/corruptRow(table:reason:)`` when the run's event or steps
    ///   cannot be read.
    private static func claim(
        runID id: String, previousStatus: String, dueAt: Int64, _ request: ClaimRequest, connection: SQLiteConnection
    ) throws -> ClaimedRun? {
        var run: RunRecord?
        var token: Int64 = 0
        try connection.query(
            """
            UPDATE runs SET status = 'running', lease_token = lease_token + 1, lease_owner = ?, available_at = ?,
                started_at = COALESCE(started_at, ?), parked_on = NULL, parked_rank = NULL
            WHERE id = ? RETURNING \(runColumns)
            """,
            [.text(request.owner), .integer(request.now + request.leaseDuration), .integer(request.now), .text(id)]
        ) { row in
            run = try runRecord(row)
            token = row.integer(RunColumn.leaseToken)
        }
        guard let run else { return nil }
        var event: StoredEvent?
        try connection.query("SELECT \(eventColumns) FROM events WHERE id = ?", [.text(run.eventID.description)]) { row in
            event = try storedEvent(row)
        }
        guard let event else {
            throw SQLiteStoreError.corruptRow(table: "runs", reason: "run \(id) names event \(run.eventID), which does not exist")
        }
        var events = [event]
        if run.eventCount > 1 {
            events = []
            try connection.query(
                """
                SELECT \(EventColumn.list(of: "e")) FROM run_events AS r JOIN events AS e ON e.id = r.event_id
                WHERE r.run_id = ? ORDER BY r.position
                """,
                [.text(id)]
            ) { row in events.append(try storedEvent(row)) }
            guard events.count == run.eventCount else {
                throw SQLiteStoreError.corruptRow(table: "run_events", reason: "run \(id) lists \(events.count) of its \(run.eventCount) events")
            }
        }
        let records = try Self.steps(runID: id, strict: true, connection: connection)
        return ClaimedRun(
            run: run, lease: RunLease(runID: run.id, token: token, owner: request.owner), event: event, events: events,
            steps: Dictionary(records.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last }),
            claimedFrom: RunStatus(rawValue: previousStatus) ?? .queued, claimedAt: request.now, dueAt: dueAt)
    }

    /// Fails a run that cannot be replayed, because its event or a step of it cannot be read,
    /// with an error that says so. No `function.failed` is emitted: it would carry the very
    /// event that may be what cannot be read.
    private static func failUnreadable(runID: String, reason: String, now: Int64, connection: SQLiteConnection) throws {
        let error = ErrorRecord.unreadableRun(reason: reason)
        try connection.run(
            """
            UPDATE runs SET status = 'failed', error = ?, available_at = NULL, ended_at = ?, lease_owner = NULL
            WHERE id = ?
            """,
            try errorValue(error), .integer(now), .text(runID))
        try connection.run("DELETE FROM run_waits WHERE run_id = ?", .text(runID))
    }

    public func renew(_ leases: [RunLease], until: Int64) async throws -> [RunLease] {
        guard !leases.isEmpty else { return [] }
        return try await writer.write { connection in
            var lost: [RunLease] = []
            for lease in leases {
                let changed = try connection.run(
                    "UPDATE runs SET available_at = ? WHERE id = ? AND lease_token = ? AND status = 'running'",
                    .integer(until), .text(lease.runID.description), .integer(lease.token))
                guard changed == 0 else { continue }
                // Not renewed: either another claim took the run (its token moved on), or this
                // worker's own checkpoint set it aside after the leases were listed, which
                // leaves the token as it was. Only the first is a lost lease.
                let token = try connection.scalarInteger(
                    "SELECT lease_token FROM runs WHERE id = ?", .text(lease.runID.description))
                if token != lease.token { lost.append(lease) }
            }
            return lost
        }
    }

    public func nextDueTime(environment: String, appID: String, functionIDs: [String]) async throws -> Int64? {
        guard !functionIDs.isEmpty else { return nil }
        let ids = JSON.array(functionIDs.map { .string($0) }).serialized
        return try await read { connection in
            // The next run due, or the next schedule tick, whichever comes first.
            try connection.scalarInteger(
                """
                SELECT MIN(due) FROM (
                    SELECT MIN(available_at) AS due FROM runs
                    WHERE environment = ?1 AND app_id = ?2 AND status IN ('queued', 'running', 'sleeping', 'waiting')
                      AND function_id IN (SELECT value FROM json_each(?3))
                    UNION ALL
                    SELECT MIN(next_at) FROM cron_schedules
                    WHERE environment = ?1 AND app_id = ?2 AND function_id IN (SELECT value FROM json_each(?3))
                )
                """,
                .text(environment), .text(appID), .text(ids))
        }
    }
}
