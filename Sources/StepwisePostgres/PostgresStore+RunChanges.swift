@_spi(StoreImplementation) public import Stepwise
import PostgresNIO

/// Changes made to runs from outside their worker: cancel, rerun and invoke.
extension PostgresStore {
    /// Cancels a run that has not ended, drops its waits and appends `events`, in one
    /// transaction. The guarded UPDATE settles races: of a cancel and the run's own end (or a
    /// second cancel), the one that commits first wins and the other's UPDATE, re-checking
    /// the row after waiting for it, matches nothing.
    public func cancel(runID: RunID, environment: String, now: Int64, reason: ErrorRecord, events: EventBatch?) async throws -> Bool {
        let result = try await transaction { transaction -> (cancelled: Bool, stored: [StoredEvent]) in
            let cancelled = try await transaction.execute(
                """
                UPDATE runs SET status = 'cancelled', error = \(Self.errorText(reason)), ended_at = \(now), available_at = NULL,
                    lease_owner = NULL
                WHERE id = \(runID.description) AND environment = \(environment) AND status IN ('queued', 'running', 'sleeping', 'waiting')
                """)
            guard cancelled == 1 else { return (false, []) }
            try await transaction.execute("DELETE FROM run_waits WHERE run_id = \(runID.description)")
            var stored: [StoredEvent] = []
            if let events {
                _ = try await appendEvents(events, in: transaction, stored: &stored)
            }
            return (true, stored)
        }
        Self.publish(result.stored, to: events?.afterCommit)
        if !result.stored.isEmpty { notifier.mark(environment) }
        return result.cancelled
    }

    /// Queues a new run of the run's function on its events, planned by the engine
    /// (``NewRun/rerun(id:of:settings:event:now:)``).
    ///
    /// - Throws: ``RerunError`` when the function is no longer registered, before anything
    ///   changes.
    public func rerun(runID: RunID, environment: String, now: Int64) async throws -> RunRecord? {
        let run = try await transaction { transaction -> RunRecord? in
            guard let row = try await transaction.row(
                // FOR SHARE: a prune deleting this run (StoreRetention) either commits first, and
                // the run is gone, or waits, and its events stay named by the new run.
                "SELECT \(unescaped: Self.runColumns) FROM runs WHERE id = \(runID.description) AND environment = \(environment) FOR SHARE")
            else { return nil }
            let first = try Self.runRecord(row)
            guard let settings = try await transaction.row(
                """
                SELECT settings FROM functions
                WHERE environment = \(environment) AND app_id = \(first.appID) AND function_id = \(first.functionID)
                """)
            else { throw RerunError(runID: runID, functionID: first.functionID) }
            var eventIDs = [first.eventID]
            if first.eventCount > 1 {
                eventIDs = try await transaction.rows(
                    "SELECT event_id FROM run_events WHERE run_id = \(runID.description) ORDER BY position"
                ).compactMap { try $0.text(0).flatMap(EventID.init) }
            }
            guard let eventRow = try await transaction.row(
                "SELECT \(unescaped: Self.eventColumns) FROM events WHERE id = \(first.eventID.description)")
            else {
                throw PostgresStoreError.corruptRow(table: "events", reason: "event \(first.eventID) of run \(runID) is missing")
            }
            let run = NewRun.rerun(
                id: RunID(idGenerator.next(milliseconds: now)), of: first, settings: Self.settings(try settings.text(0)),
                event: try Self.storedEvent(eventRow), now: now)
            guard try await insertRuns([(run, eventIDs)], environment: environment, in: transaction).contains(run.id) else {
                throw PostgresStoreError.invalidCheckpoint(reason: "run id \(run.id) is taken")
            }
            return try await transaction.row(
                "SELECT \(unescaped: Self.runColumns) FROM runs WHERE id = \(run.id.description)"
            ).map(Self.runRecord)
        }
        if run != nil { notifier.mark(environment) }
        return run
    }

    /// Appends the invoke's event and inserts the run the engine plans for it
    /// (``NewRun/triggered(id:appID:functionID:settings:by:)``), in one transaction; the run its
    /// fan-out started of the same function, if it did (a trigger on `stepwise/*`), is the
    /// invoked one.
    ///
    /// - Throws: ``InvokeError`` when the function is not registered, before anything changes.
    public func invoke(appID: String, functionID: String, batch: EventBatch) async throws -> RunRecord {
        let environment = batch.environment
        let result = try await transaction { transaction -> (run: RunRecord, stored: [StoredEvent]) in
            guard let settings = try await transaction.row(
                """
                SELECT settings FROM functions
                WHERE environment = \(environment) AND app_id = \(appID) AND function_id = \(functionID)
                """)
            else { throw InvokeError(functionID: functionID, appID: appID, environment: environment) }
            var stored: [StoredEvent] = []
            let outcomes = try await appendEvents(batch, in: transaction, stored: &stored)
            guard outcomes.count == 1, let event = outcomes[0].accepted else {
                throw PostgresStoreError.invalidCheckpoint(reason: "an invoke appends exactly one new event")
            }
            let run = NewRun.triggered(
                id: RunID(idGenerator.next(milliseconds: batch.receivedAt)), appID: appID, functionID: functionID,
                settings: Self.settings(try settings.text(0)), by: event)
            _ = try await insertRuns([(run, [event.id])], environment: environment, in: transaction)
            guard let record = try await transaction.row(
                """
                SELECT \(unescaped: Self.runColumns) FROM runs
                WHERE environment = \(environment) AND app_id = \(appID) AND function_id = \(functionID)
                    AND event_id = \(event.id.description) AND rerun_of IS NULL
                """
            ).map(Self.runRecord) else {
                throw PostgresStoreError.invalidCheckpoint(reason: "the invoked run of '\(functionID)' was not inserted")
            }
            return (record, stored)
        }
        Self.publish(result.stored, to: batch.afterCommit)
        notifier.mark(environment)
        return result.run
    }
}
