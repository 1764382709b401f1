@_spi(StoreImplementation) public import Stepwise

/// Changes made to runs from outside their worker: cancel, rerun and invoke.
extension InMemoryStore {
    /// Cancels a run of `environment` that has not ended, drops its waits and appends
    /// `events`, in one transaction; a run already ended stays as it is and `events` are not
    /// appended.
    public func cancel(runID: RunID, environment: String, now: Int64, reason: ErrorRecord, events: EventBatch?) async throws -> Bool {
        var stored: [StoredEvent] = []
        let cancelled = try write { transaction in
            transaction.now = now
            guard let run = transaction.tables.runs[runID], ExactText.same(run.environment, environment), !run.status.isFinal else {
                return false
            }
            transaction.updateRun(runID) { run in
                run.status = .cancelled
                run.error = reason
                run.endedAt = now
                run.availableAt = nil
            }
            transaction.removeWaits(runID: runID)
            if let events {
                _ = try transaction.appendEvents(events, stored: &stored)
            }
            return true
        }
        Self.publish(stored, to: events?.afterCommit)
        return cancelled
    }

    /// Queues a new run of the run's function on its event, planned by the engine
    /// (``NewRun/rerun(id:of:settings:event:now:)``).
    ///
    /// - Throws: ``RerunError`` when the function is no longer registered, before anything
    ///   changes.
    public func rerun(runID: RunID, environment: String, now: Int64) async throws -> RunRecord? {
        try write { transaction in
            guard let first = transaction.tables.runs[runID], ExactText.same(first.environment, environment) else { return nil }
            guard let function = transaction.tables.functions[FunctionKey(environment, first.appID, first.functionID)] else {
                throw RerunError(runID: runID, functionID: first.functionID)
            }
            guard let event = transaction.tables.events[first.eventID]?.event else {
                throw InMemoryStoreError.eventMissing(runID: runID, eventID: first.eventID)
            }
            let run = NewRun.rerun(
                id: RunID(transaction.generator.next(milliseconds: now)), of: first.record, settings: function.settings, event: event,
                now: now)
            guard transaction.insertRun(run, environment: environment, eventIDs: first.eventIDs) else {
                throw InMemoryStoreError.idTaken(run.id.description)
            }
            return transaction.tables.runs[run.id]?.record
        }
    }

    /// Appends the invoke's event and inserts the run the engine plans for it
    /// (``NewRun/triggered(id:appID:functionID:settings:by:)``); the run its fan-out started of
    /// the same function, if it did (a trigger on `stepwise/*`), is the invoked one.
    ///
    /// - Throws: ``InvokeError`` when the function is not registered, before anything changes.
    public func invoke(appID: String, functionID: String, batch: EventBatch) async throws -> RunRecord {
        var stored: [StoredEvent] = []
        let run = try write { transaction in
            let key = FunctionKey(batch.environment, appID, functionID)
            guard let function = transaction.tables.functions[key] else {
                throw InvokeError(functionID: functionID, appID: appID, environment: batch.environment)
            }
            let outcomes = try transaction.appendEvents(batch, stored: &stored)
            guard outcomes.count == 1, let event = outcomes[0].accepted else {
                throw InMemoryStoreError.invalidCheckpoint(reason: "an invoke appends exactly one new event")
            }
            let run = NewRun.triggered(
                id: RunID(transaction.generator.next(milliseconds: batch.receivedAt)), appID: appID, functionID: functionID,
                settings: function.settings, by: event)
            transaction.insertRun(run, environment: batch.environment, eventIDs: [event.id])
            guard let id = transaction.tables.triggeredRuns[TriggeredRunKey(function: key, eventID: event.id)],
                  let record = transaction.tables.runs[id]?.record
            else { throw InMemoryStoreError.invalidCheckpoint(reason: "the invoked run of '\(functionID)' was not inserted") }
            return record
        }
        Self.publish(stored, to: batch.afterCommit)
        return run
    }
}
