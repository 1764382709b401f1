import Foundation
@_spi(StoreImplementation) public import Stepwise
import PostgresNIO

/// Claims and leases: which runs are due, who holds them, and for how long.
extension PostgresStore {
    public func claim(_ request: ClaimRequest) async throws -> [ClaimedRun] {
        guard request.limit > 0, !request.functionIDs.isEmpty else { return [] }
        // One call of `claim_runs` (schema 4), its own transaction, one round trip, whether it
        // finds runs or none.
        let rows = try await read { transaction in try await claimRows(request, in: transaction) }
        return try await claimedRuns(rows, request: request)
    }

    /// The rows of a claim for `request` in `transaction`, as ``claimedRuns(_:request:)``
    /// reads them; none without a request.
    func claimRows(_ request: ClaimRequest?, in transaction: PostgresTransaction) async throws -> [PostgresRandomAccessRow] {
        guard let request else { return [] }
        var query = PostgresQuery.StringInterpolation(literalCapacity: 64, interpolationCount: 7)
        query.appendLiteral("SELECT * FROM ")
        Self.appendClaimCall(request, to: &query)
        return try await transaction.rows(PostgresQuery(stringInterpolation: query))
    }

    /// Appends a call of `claim_runs` for `request`: the due runs, locked as they are found,
    /// skipping those another claimer holds ("provides an inconsistent view of the data, so it
    /// is not suitable for general purpose work, but can be used to avoid lock contention with
    /// multiple consumers accessing a queue-like table": the SELECT docs), moved on to a new
    /// lease, each with its events and steps as JSON and the status it was claimed out of.
    /// Its rows' first 22 columns are what ``claimedRuns(_:request:)`` reads.
    ///
    /// With `onlyIf`, a condition on the columns of the statement around the call, the call's
    /// limit is 0 (and it claims nothing) where that condition does not hold. A `WHERE` would
    /// not do: PostgreSQL pulls a `LATERAL` subquery up into its join, whose filter then runs
    /// on the function's rows, after the function has claimed them.
    static func appendClaimCall(_ request: ClaimRequest, onlyIf condition: String? = nil, to query: inout PostgresQuery.StringInterpolation) {
        query.appendLiteral("claim_runs(")
        query.appendInterpolation(request.environment)
        query.appendLiteral(", ")
        query.appendInterpolation(request.appID)
        query.appendLiteral(", ")
        query.appendInterpolation(request.functionIDs)
        query.appendLiteral("::text[], ")
        query.appendInterpolation(request.owner)
        query.appendLiteral(", ")
        query.appendInterpolation(request.now)
        query.appendLiteral(", ")
        query.appendInterpolation(request.leaseDuration)
        query.appendLiteral(", ")
        if let condition { query.appendLiteral("CASE WHEN \(condition) THEN ") }
        query.appendInterpolation(Int64(request.limit))
        query.appendLiteral("::integer")
        if condition != nil { query.appendLiteral(" ELSE 0 END") }
        query.appendLiteral(")")
    }

    /// How many columns a row of `claim_runs` has: a statement that joins other columns to
    /// them puts those after.
    static let claimColumns = 22

    /// The rows of a statement that joined `claim_runs` on the right of a `LEFT JOIN` that
    /// claimed a run: the others, all `NULL` on its side, stand for a claim that found none.
    static func claimRows(_ rows: [PostgresRandomAccessRow]) throws -> [PostgresRandomAccessRow] {
        try rows.filter { try $0.text(0) != nil }
    }

    /// The claimer a write that claimed covered: when its claim had room left it took every
    /// run due for it, so that, unless the write made a run due only later (`dueLater`), its
    /// worker need not be told of the write (``StoreChange/coveredBy``).
    static func covering(_ request: ClaimRequest, claimed: Int, dueLater: Bool) -> String? {
        claimed < request.limit && !dueLater ? request.owner : nil
    }

    /// The runs a call of `claim_runs` claimed, read from its rows; those whose event or
    /// steps cannot be read are failed rather than returned.
    func claimedRuns(_ rows: [PostgresRandomAccessRow], request: ClaimRequest) async throws -> [ClaimedRun] {
        var claimed: [ClaimedRun] = []
        var unreadable: [(lease: RunLease, reason: String)] = []
        for row in rows {
            let record = try Self.runRecord(row)
            let lease = RunLease(runID: record.id, token: try row.integer(15), owner: request.owner)
            do {
                let events = try Self.claimedEvents(try row.text(19), run: record)
                guard let first = events.first, events.count == record.eventCount else {
                    throw PostgresStoreError.corruptRow(table: "events", reason: "an event of run \(record.id) is missing")
                }
                let steps = try Self.claimedSteps(try row.text(20), runID: record.id)
                claimed.append(ClaimedRun(
                    run: record, lease: lease, event: first, events: events,
                    steps: Dictionary(steps.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last }),
                    claimedFrom: try row.text(18).flatMap(RunStatus.init(rawValue:)) ?? .queued, claimedAt: request.now,
                    dueAt: try row.optionalInteger(21)))
            } catch {
                unreadable.append((lease, "\(error)"))
            }
        }
        if !unreadable.isEmpty {
            // Claimed, and so held: failed now, or, should that fail, by the claim after their
            // leases end. Thrown, the error would lose the readable runs claimed with them
            // for as long, and a write that claimed could not say what it committed.
            do {
                try await failUnreadable(unreadable, now: request.now)
            } catch {
                logger.error("stepwise.postgres could not fail unreadable runs", metadata: ["error": "\(error)"])
            }
        }
        return claimed
    }

    /// Fails runs whose event or steps cannot be read: they cannot be replayed, and must not
    /// keep the others of their app queued (DESIGN.md, invariant 7). Fenced by the lease the
    /// claim just took, in a transaction of its own right after it; a crash in between leaves
    /// the run claimed, and its next claim fails it.
    private func failUnreadable(_ runs: [(lease: RunLease, reason: String)], now: Int64) async throws {
        try await transaction { transaction in
            for (lease, reason) in runs {
                try await transaction.execute(
                    """
                    UPDATE runs SET status = 'failed', error = \(Self.errorText(.unreadableRun(reason: reason))), available_at = NULL,
                        ended_at = \(now), lease_owner = NULL
                    WHERE id = \(lease.runID.description) AND lease_token = \(lease.token)
                    """)
                try await transaction.execute("DELETE FROM run_waits WHERE run_id = \(lease.runID.description)")
            }
        }
        logger.error("stepwise.postgres failed unreadable runs", metadata: ["runs": "\(runs.map(\.lease.runID.description))"])
    }

    /// A claimed run's events from the claim's JSON: `[id, environment, name, data, user,
    /// dedupe_id, ts, v, received_at, trace_context]` each, `data` and `user` as the stored text.
    static func claimedEvents(_ text: String?, run: RunRecord) throws -> [StoredEvent] {
        guard let text else { return [] }
        guard let rows = try JSON(parsing: text).arrayValue else {
            throw PostgresStoreError.corruptRow(table: "events", reason: "the events of run \(run.id) do not read")
        }
        return try rows.map { row in
            guard let id = row[0]?.stringValue.flatMap(EventID.init), let dataText = row[3]?.stringValue else {
                throw PostgresStoreError.corruptRow(table: "events", reason: "an event of run \(run.id) has no id or data")
            }
            let data: JSON
            do { data = try JSON(parsing: dataText) } catch {
                throw PostgresStoreError.corruptRow(table: "events", reason: "the data of event \(id) is not JSON: \(error)")
            }
            var user: JSON?
            if let userText = row[4]?.stringValue {
                do { user = try JSON(parsing: userText) } catch {
                    throw PostgresStoreError.corruptRow(table: "events", reason: "the user of event \(id) is not JSON: \(error)")
                }
            }
            return StoredEvent(
                id: id, environment: row[1]?.stringValue ?? "", name: row[2]?.stringValue ?? "", data: data, user: user,
                dedupeID: row[5]?.stringValue, ts: row[6]?.intValue ?? 0, v: row[7]?.stringValue, receivedAt: row[8]?.intValue ?? 0,
                traceContext: row[9]?.stringValue.flatMap(TraceContext.init(serialized:)))
        }
    }

    /// A claimed run's steps from the claim's JSON: `[key, step_id, kind, status, output,
    /// error, failed_attempts, started_at, ended_at]` each, in the order first recorded. Strict:
    /// a step whose output does not read makes the run unreadable.
    static func claimedSteps(_ text: String?, runID: RunID) throws -> [StepRecord] {
        guard let text else { return [] }
        guard let rows = try JSON(parsing: text).arrayValue else {
            throw PostgresStoreError.corruptRow(table: "steps", reason: "the steps of run \(runID) do not read")
        }
        return try rows.map { row in
            guard let key = row[0]?.stringValue, let stepID = row[1]?.stringValue,
                  let kind = row[2]?.stringValue.flatMap(StepKind.init(rawValue:)),
                  let status = row[3]?.stringValue.flatMap(StepStatus.init(rawValue:))
            else { throw PostgresStoreError.corruptRow(table: "steps", reason: "a key, kind or status of run \(runID) does not parse") }
            var output: JSON?
            if let outputText = row[4]?.stringValue {
                do { output = try JSON(parsing: outputText) } catch {
                    throw PostgresStoreError.corruptRow(table: "steps", reason: "the output of step \(key) of run \(runID) could not be read: \(error)")
                }
            }
            return StepRecord(
                runID: runID, key: key, stepID: stepID, kind: kind, status: status, output: output,
                error: errorRecord(row[5]?.stringValue), failedAttempts: Int(row[6]?.intValue ?? 0), startedAt: row[7]?.intValue ?? 0,
                endedAt: row[8]?.intValue ?? 0)
        }
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
                "SELECT next_due_time(\(environment), \(appID), \(functionIDs)::text[])"
            )?.optionalInteger(0)
        }
    }
}
