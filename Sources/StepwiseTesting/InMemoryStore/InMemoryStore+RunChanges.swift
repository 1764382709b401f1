@_spi(StoreImplementation) public import Stepwise

/// Changes made to runs from outside their worker: cancel and rerun.
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
}
