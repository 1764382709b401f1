@_spi(StoreImplementation) public import Stepwise

extension InMemoryStore {
    /// Appends the batch, its runs and its wait resolutions in one transaction, then hands
    /// every event stored (the cancellations the batch set off included, in the order stored)
    /// to the batch's `afterCommit`, before any other requirement runs: commit order.
    public func append(_ batch: EventBatch) async throws -> [EventAppendOutcome] {
        var stored: [StoredEvent] = []
        let outcomes = try write { transaction in
            transaction.now = batch.receivedAt
            return try transaction.appendEvents(batch, stored: &stored)
        }
        Self.publish(stored, to: batch.afterCommit)
        return outcomes
    }

    /// The append, then the claim, in one transaction; the runs handed over before the
    /// events are published.
    public func append(
        _ batch: EventBatch, thenClaim request: ClaimRequest, handOver: @escaping @Sendable (ClaimingWriteResult) -> Void
    ) async throws -> [EventAppendOutcome] {
        try writeThenClaim(at: batch.receivedAt, request, afterCommit: batch.afterCommit, handOver: handOver) { transaction, stored in
            try transaction.appendEvents(batch, stored: &stored)
        }.outcomes
    }

    /// Calls an after-commit hook with the events a committed transaction stored, if any.
    static func publish(_ stored: [StoredEvent], to afterCommit: (@Sendable ([StoredEvent]) -> Void)?) {
        guard let afterCommit, !stored.isEmpty else { return }
        afterCommit(stored)
    }

    /// Looks the event up by id; an event of another environment is not there.
    public func event(id: EventID, environment: String) async throws -> StoredEvent? {
        guard let row = tables.events[id], ExactText.same(row.event.environment, environment) else { return nil }
        return row.event
    }

    /// Lists events newest first, by receive time and then id, strictly after the cursor. Every
    /// event in memory is readable, so ``EventPage/unreadable`` is always empty.
    public func events(_ query: EventQuery) async throws -> EventPage {
        let query = try query.validated()
        let environment = ExactText(query.environment)
        let name = query.name.map(ExactText.init)
        let since = query.since ?? Int64.min
        let until = query.until ?? Int64.max
        var matching = tables.events.values.lazy.map(\.event).filter { event in
            ExactText(event.environment) == environment && (name.map { ExactText(event.name) == $0 } ?? true)
                && event.receivedAt >= since && event.receivedAt < until
                && (query.cursor.map { (event.receivedAt, event.id) < ($0.receivedAt, $0.eventID) } ?? true)
        }.sorted { ($0.receivedAt, $0.id) > ($1.receivedAt, $1.id) }
        var next: EventCursor?
        if matching.count > query.limit {
            matching.removeSubrange(query.limit...)
            next = matching.last.map { EventCursor(receivedAt: $0.receivedAt, eventID: $0.id) }
        }
        return EventPage(events: matching, nextCursor: next)
    }
}

extension InMemoryStore.Transaction {
    /// Appends a batch inside a transaction, with the runs its events trigger and the waits
    /// they resolve, as ``Store/append(_:)`` says.
    ///
    /// Every event stored is added to `stored` as it is stored: the batch's, and those that
    /// resolving waits appends in turn, each after the event that set it off.
    ///
    /// - Throws: ``EventIDSeedConflict`` for a seeded batch that is not the retry of the one
    ///   first sent with its seed; the caller's transaction then undoes what was appended.
    mutating func appendEvents(_ batch: EventBatch, stored: inout [StoredEvent]) throws -> [EventAppendOutcome] {
        var outcomes: [EventAppendOutcome] = []
        outcomes.reserveCapacity(batch.events.count)
        let environment = ExactText(batch.environment)
        let windowStart = batch.receivedAt - batch.dedupeWindow
        let triggers = triggerIndex(environment: environment)
        // A seeded batch is a first try (none of its ids taken) or a retry of one (each of its
        // events stored under its id, or dropped as a duplicate as the first try dropped it):
        // a batch that is partly one and partly the other is another request under a used
        // seed, and is refused whole.
        var seedAnswered: Int?
        var seedStored: Int?
        for (index, event) in batch.events.enumerated() {
            let seededID = batch.idSeed?.eventID(at: index)
            if let seededID, try seededEventExists(seededID, as: event, environment: batch.environment, index: index) {
                if let seedStored, let storedID = batch.idSeed?.eventID(at: seedStored) {
                    throw EventIDSeedConflict(eventID: storedID, index: seedStored, isBeyondFirstTry: true)
                }
                seedAnswered = index
                outcomes.append(.duplicate(of: seededID))
                continue
            }
            let dedupeKey = event.dedupeID.map { InMemoryStore.DedupeKey(environment: environment, dedupeID: ExactText($0)) }
            // Earlier in this batch, or in this transaction, is found here too: an event's
            // dedupe entry is written with the event.
            if let dedupeKey, let entry = tables.dedupe[dedupeKey], entry.acceptedAt > windowStart {
                outcomes.append(.duplicate(of: entry.eventID))
                continue
            }
            if let seededID {
                if seedAnswered != nil { throw EventIDSeedConflict(eventID: seededID, index: index, isBeyondFirstTry: true) }
                seedStored = index
            }
            let id = seededID ?? EventID(generator.next(milliseconds: batch.receivedAt))
            guard tables.events[id] == nil else { throw InMemoryStoreError.idTaken(id.description) }
            let storedEvent = StoredEvent(
                id: id, environment: batch.environment, name: event.name, data: event.data, user: event.user,
                dedupeID: event.dedupeID, ts: event.ts, v: event.v, receivedAt: batch.receivedAt, traceContext: event.traceContext)
            insertEvent(InMemoryStore.EventRow(event: storedEvent, dataText: event.dataText, userText: event.userText))
            if let dedupeKey {
                // A key whose window has passed starts a new window with this event.
                set(\.dedupe, dedupeKey, to: InMemoryStore.DedupeEntry(eventID: id, acceptedAt: batch.receivedAt))
            }
            stored.append(storedEvent)
            try createRuns(for: storedEvent, triggers: triggers, stored: &stored)
            try resolveWaits(for: storedEvent, stored: &stored)
            outcomes.append(.accepted(storedEvent))
        }
        return outcomes
    }

    /// Whether the event a seed gives `id` is stored already, as `event`: every field the
    /// sender gave must be the same, byte for byte (`ts` only when the sender gave it;
    /// otherwise it is the receive time, which differs on a retry).
    ///
    /// - Throws: ``EventIDSeedConflict`` when another event holds the id.
    private func seededEventExists(_ id: EventID, as event: NewEvent, environment: String, index: Int) throws -> Bool {
        guard let row = tables.events[id] else { return false }
        let stored = row.event
        let same = ExactText.same(stored.environment, environment) && ExactText.same(stored.name, event.name)
            && ExactText.same(row.dataText, event.dataText) && ExactText.same(row.userText, event.userText)
            && ExactText.same(stored.dedupeID, event.dedupeID) && ExactText.same(stored.v, event.v)
            && (!event.timestampGiven || stored.ts == event.ts)
        guard same else { throw EventIDSeedConflict(eventID: id, index: index) }
        return true
    }
}
