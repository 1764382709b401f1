@_spi(StoreImplementation) import Stepwise
import PostgresNIO

/// Waits for events: found here by index, decided by the engine (``WaitMatching``), carried
/// out here, in the transaction that stores the event.
extension PostgresStore {
    /// Whether any run of `environment` waits for an event: when none does, an append looks
    /// no further.
    func hasWaits(environment: String, in transaction: PostgresTransaction) async throws -> Bool {
        try await transaction.row("SELECT 1 FROM run_waits WHERE environment = \(environment) LIMIT 1") != nil
    }

    /// Resolves the waits `event` matches, inside the transaction that stores it. Waits of
    /// runs for which `isExcluded` holds are left alone (a run the same batch started at or
    /// after this event).
    ///
    /// Concurrent appends matching one wait resolve it once: each resolution is an UPDATE
    /// guarded by the run's status, which waits for the other transaction and re-checks.
    func resolveWaits(
        for event: StoredEvent, in transaction: PostgresTransaction, stored: inout [StoredEvent], isExcluded: (RunID) -> Bool = { _ in false }
    ) async throws {
        let candidates = try await waitCandidates(for: event, in: transaction).filter { !isExcluded($0.runID) }
        guard !candidates.isEmpty else { return }
        for resolution in WaitMatching.resolutions(for: event, candidates: candidates) {
            switch resolution {
            case .cancelRun(let runID):
                try await cancelRun(runID, because: event, in: transaction, stored: &stored)
            case .resumeStep(let runID, let stepKey, let output):
                // Claimed at its timeout a moment ago: the timeout won.
                let resumed = try await transaction.execute(
                    "UPDATE runs SET status = 'queued', available_at = \(event.receivedAt) WHERE id = \(runID.description) AND status = 'waiting'")
                guard resumed == 1 else { continue }
                try await transaction.execute(
                    """
                    UPDATE steps SET status = 'completed', output = \(output.serialized), ended_at = \(event.receivedAt)
                    WHERE run_id = \(runID.description) AND key = \(stepKey) AND status = 'waiting'
                    """)
                try await transaction.execute("DELETE FROM run_waits WHERE run_id = \(runID.description) AND step_key = \(stepKey)")
            }
        }
    }

    /// The waits on `event`'s name, in its environment, that match any event of the name or
    /// whose match value is the event's value at their path (``WaitMatching/indexedValue(of:atPath:)``):
    /// any-event waits first, then by path, then in the order they were made.
    private func waitCandidates(for event: StoredEvent, in transaction: PostgresTransaction) async throws -> [WaitCandidate] {
        let paths = try await transaction.rows(
            "SELECT DISTINCT match_path FROM run_waits WHERE environment = \(event.environment) AND event_name = \(event.name)"
        ).map { try $0.text(0) }
        guard !paths.isEmpty else { return [] }
        let anyEvent = paths.contains(nil)
        let matchPaths = paths.compactMap { $0 }
        let matchValues = matchPaths.map { WaitMatching.indexedValue(of: event, atPath: $0) }
        return try await transaction.rows(
            """
            SELECT w.run_id, w.step_key, w.kind, w.expires_at, w.condition FROM run_waits w
            WHERE w.environment = \(event.environment) AND w.event_name = \(event.name)
              AND ((\(anyEvent) AND w.match_path IS NULL)
                   OR (w.match_path, w.match_value) IN (SELECT * FROM unnest(\(matchPaths)::text[], \(matchValues)::text[])))
            ORDER BY w.match_path NULLS FIRST, w.seq
            """
        ).compactMap { row in
            guard let runID = try row.text(0).flatMap(RunID.init), let kind = try row.text(2).flatMap(RunWait.Kind.init(rawValue:)) else {
                return nil
            }
            return WaitCandidate(runID: runID, stepKey: try row.text(1) ?? "", kind: kind, expiresAt: try row.integer(3), condition: try row.text(4))
        }
    }

    /// Cancels a run that has not ended because `event` arrived (its `cancelOn`): the run ends
    /// `cancelled`, its waits are dropped, and its `stepwise/function.cancelled` is appended
    /// in the same transaction, like any appended event.
    func cancelRun(
        _ runID: RunID, because event: StoredEvent, reason: String = "cancelOn", in transaction: PostgresTransaction, stored: inout [StoredEvent]
    ) async throws {
        guard let row = try await transaction.row(
            """
            UPDATE runs SET status = 'cancelled', error = \(Self.errorText(.runCancelled(reason: reason))),
                ended_at = \(event.receivedAt), available_at = NULL
            WHERE id = \(runID.description) AND status IN ('queued', 'running', 'sleeping', 'waiting')
            RETURNING \(unescaped: Self.runColumns)
            """)
        else { return }
        let cancelled = try Self.runRecord(row)
        try await transaction.execute("DELETE FROM run_waits WHERE run_id = \(runID.description)")
        let triggering = try await transaction.row(
            "SELECT \(unescaped: Self.eventColumns) FROM events WHERE id = \(cancelled.eventID.description)"
        ).flatMap { try? Self.storedEvent($0) }
        let systemEvent = SystemEvent.cancelled(
            run: cancelled, triggeringEvent: triggering, reason: reason, cancelledBy: event.id, at: event.receivedAt)
        _ = try await appendEvents(
            EventBatch(environment: event.environment, events: [systemEvent], receivedAt: event.receivedAt, dedupeWindow: 0),
            in: transaction, stored: &stored)
    }
}
