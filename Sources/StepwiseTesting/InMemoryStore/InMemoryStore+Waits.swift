@_spi(StoreImplementation) import Stepwise

/// Waits for events: found here by index, decided by the engine (``WaitMatching``), carried
/// out here, in the transaction that stores the event.
extension InMemoryStore.Transaction {
    /// Resolves the waits `event` matches, inside the transaction that stores it.
    mutating func resolveWaits(for event: StoredEvent, stored: inout [StoredEvent]) throws {
        let candidates = waitCandidates(for: event)
        guard !candidates.isEmpty else { return }
        for resolution in WaitMatching.resolutions(for: event, candidates: candidates) {
            switch resolution {
            case .cancelRun(let runID):
                try cancelRun(runID, because: event, stored: &stored)
            case .resumeStep(let runID, let stepKey, let output):
                // Claimed at its timeout a moment ago: the timeout won.
                guard tables.runs[runID]?.status == .waiting else { continue }
                updateRun(runID) { run in
                    run.status = .queued
                    run.availableAt = event.receivedAt
                }
                completeWaitingStep(runID: runID, key: stepKey, output: output, endedAt: event.receivedAt)
                removeWaits(runID: runID, stepKey: stepKey)
            }
        }
    }

    /// The waits on `event`'s name, in its environment, that match any event of the name or
    /// whose match value is the event's value at their path (``WaitMatching/indexedValue(of:atPath:)``).
    /// In the order SQLite's index gives them: any-event waits first, then by path, then in the
    /// order they were made.
    private func waitCandidates(for event: StoredEvent) -> [WaitCandidate] {
        let name = InMemoryStore.WaitName(environment: ExactText(event.environment), eventName: ExactText(event.name))
        guard let keys = tables.waitsByName[name] else { return [] }
        var indexed: [ExactText: ExactText] = [:]
        var matching: [InMemoryStore.WaitRow] = []
        for key in keys {
            guard let wait = tables.waits[key] else { continue }
            if let path = wait.matchPath {
                let pathKey = ExactText(path)
                let value = indexed[pathKey] ?? ExactText(WaitMatching.indexedValue(of: event, atPath: path))
                indexed[pathKey] = value
                guard let matchValue = wait.matchValue, ExactText(matchValue) == value else { continue }
            }
            matching.append(wait)
        }
        return matching.sorted { lhs, rhs in
            switch (lhs.matchPath.map(ExactText.init), rhs.matchPath.map(ExactText.init)) {
            case (nil, nil): return lhs.sequence < rhs.sequence
            case (nil, _?): return true
            case (_?, nil): return false
            case (let left?, let right?): return left == right ? lhs.sequence < rhs.sequence : left < right
            }
        }.map(\.candidate)
    }

    /// Cancels a run that has not ended because `event` arrived (its `cancelOn`): the run ends
    /// `cancelled`, its waits are dropped, and its `stepwise/function.cancelled` is appended
    /// in the same transaction, like any appended event.
    mutating func cancelRun(_ runID: RunID, because event: StoredEvent, reason: String = "cancelOn", stored: inout [StoredEvent]) throws {
        guard let run = tables.runs[runID], !run.status.isFinal else { return }
        let cancelled = updateRun(runID) { run in
            run.status = .cancelled
            run.error = .runCancelled(reason: reason)
            run.endedAt = event.receivedAt
            run.availableAt = nil
        }
        guard let cancelled else { return }
        removeWaits(runID: runID)
        let systemEvent = SystemEvent.cancelled(
            run: cancelled.record, triggeringEvent: tables.events[run.eventID]?.event, reason: reason, cancelledBy: event.id,
            at: event.receivedAt)
        _ = try appendEvents(
            EventBatch(environment: event.environment, events: [systemEvent], receivedAt: event.receivedAt, dedupeWindow: 0),
            stored: &stored)
    }
}
