extension SQLiteStore {
    public func append(_ batch: EventBatch) async throws -> [EventAppendOutcome] {
        let generator = idGenerator
        return try await writer.write({ connection in
            var stored: [StoredEvent] = []
            let outcomes = try Self.appendEvents(batch, generator: generator, connection: connection, stored: &stored)
            return AppendResult(outcomes: outcomes, stored: stored)
        }, afterCommit: Self.publishingStored(batch)).outcomes
    }

    /// The append and the claim in one trip to the writer and one commit.
    public func append(
        _ batch: EventBatch, thenClaim request: ClaimRequest, handOver: @escaping @Sendable (ClaimingWriteResult) -> Void
    ) async throws -> [EventAppendOutcome] {
        let generator = idGenerator
        return try await writeThenClaim(request, publishing: batch, handOver: handOver) { connection in
            var stored: [StoredEvent] = []
            let outcomes = try Self.appendEvents(batch, generator: generator, connection: connection, stored: &stored)
            return AppendResult(outcomes: outcomes, stored: stored)
        }.outcomes
    }

    /// What a write that appends events did: the outcomes of its own batch, and every event it
    /// stored, in the order stored — the batch's, and the system events they set off inside
    /// the transaction (a `cancelOn`'s `function.cancelled`).
    struct AppendResult: Sendable {
        var outcomes: [EventAppendOutcome]
        var stored: [StoredEvent]
    }

    /// The writer's after-commit hook for a write that appends `batch`: hands every event the
    /// write stored, the ones its events set off included, to the batch's `afterCommit`, so
    /// that the bus publishes all of them, in the order they were stored.
    static func publishingStored(_ batch: EventBatch?) -> (@Sendable (AppendResult) -> Void)? {
        guard let callback = batch?.afterCommit else { return nil }
        return { result in
            if !result.stored.isEmpty { callback(result.stored) }
        }
    }

    /// Appends a batch inside the writer's transaction, with the runs its events trigger. The
    /// statements are looked up once per batch, not once per event: this loop is the ingest
    /// hot path.
    ///
    /// Every event stored is added to `stored` as it is stored: the batch's, and those that
    /// resolving waits appends in turn, each after the event that set it off.
    static func appendEvents(
        _ batch: EventBatch, generator: ULIDGenerator, connection: SQLiteConnection, stored: inout [StoredEvent]
    ) throws -> [EventAppendOutcome] {
        var outcomes: [EventAppendOutcome] = []
        outcomes.reserveCapacity(batch.events.count)
        let windowStart = batch.receivedAt - batch.dedupeWindow
        let triggers = try triggerIndex(environment: batch.environment, connection: connection)
        var hasWaits = try hasWaits(environment: batch.environment, connection: connection)
        let insertEvent = try connection.statement(
            """
            INSERT INTO events (id, environment, name, data, user, dedupe_id, ts, v, received_at, trace_context)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        // A seeded batch is a first try (none of its ids taken) or a retry of one (each of its
        // events stored under its id, or dropped as a duplicate as the first try dropped it):
        // a batch that is partly one and partly the other is another request under a used
        // seed, and is refused whole by throwing, which rolls the write back.
        var seedAnswered: Int?
        var seedStored: Int?
        for (index, event) in batch.events.enumerated() {
            let seededID = batch.idSeed?.eventID(at: index)
            if let seededID {
                // A retried request: what its first try stored is answered, not stored again. The
                // same seed on another request (another event there) is refused, not answered
                // with ids of events the sender never sent.
                if try seededEventExists(seededID, as: event, environment: batch.environment, index: index, connection: connection) {
                    if let seedStored, let storedID = batch.idSeed?.eventID(at: seedStored) {
                        throw EventIDSeedConflict(eventID: storedID, index: seedStored, isBeyondFirstTry: true)
                    }
                    seedAnswered = index
                    outcomes.append(.duplicate(of: seededID))
                    continue
                }
            }
            if let dedupeID = event.dedupeID {
                // Earlier in this batch, or in this transaction, shows up here too: the
                // dedupe row of an event is written with the event.
                let existing = try connection.scalarText(
                    "SELECT event_id FROM event_dedupe WHERE environment = ? AND dedupe_id = ? AND accepted_at > ?",
                    .text(batch.environment), .text(dedupeID), .integer(windowStart))
                if let existing, let id = EventID(existing) {
                    outcomes.append(.duplicate(of: id))
                    continue
                }
            }
            if let seededID {
                if seedAnswered != nil { throw EventIDSeedConflict(eventID: seededID, index: index, isBeyondFirstTry: true) }
                seedStored = index
            }
            let id = seededID ?? EventID(generator.next(milliseconds: batch.receivedAt))
            let idText = id.description
            // Reset as soon as it has run: resolving waits below may append (a cancellation's
            // system event) through this same statement.
            defer { insertEvent.reset() }
            try insertEvent.bind(.text(idText), at: 1)
            try insertEvent.bind(.text(batch.environment), at: 2)
            try insertEvent.bind(.text(event.name), at: 3)
            try insertEvent.bind(.text(event.dataText), at: 4)
            try insertEvent.bind(event.userText.map(SQLiteValue.text) ?? .null, at: 5)
            try insertEvent.bind(event.dedupeID.map(SQLiteValue.text) ?? .null, at: 6)
            try insertEvent.bind(.integer(event.ts), at: 7)
            try insertEvent.bind(event.v.map(SQLiteValue.text) ?? .null, at: 8)
            try insertEvent.bind(.integer(batch.receivedAt), at: 9)
            try insertEvent.bind(event.traceContext.map { SQLiteValue.text($0.serialized) } ?? .null, at: 10)
            while try insertEvent.step() {}
            insertEvent.reset()
            if let dedupeID = event.dedupeID {
                // A key whose window has passed starts a new window with this event.
                try connection.run(
                    """
                    INSERT INTO event_dedupe (environment, dedupe_id, event_id, accepted_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (environment, dedupe_id) DO UPDATE SET event_id = excluded.event_id, accepted_at = excluded.accepted_at
                    """,
                    .text(batch.environment), .text(dedupeID), .text(idText), .integer(batch.receivedAt))
            }
            let storedEvent = StoredEvent(
                id: id, environment: batch.environment, name: event.name, data: event.data, user: event.user,
                dedupeID: event.dedupeID, ts: event.ts, v: event.v, receivedAt: batch.receivedAt, traceContext: event.traceContext)
            stored.append(storedEvent)
            // A run started here may wait already (its cancelOn), for a later event of this batch.
            if try createRuns(for: storedEvent, triggers: triggers, generator: generator, connection: connection, stored: &stored) {
                hasWaits = true
            }
            if hasWaits { try resolveWaits(for: storedEvent, generator: generator, connection: connection, stored: &stored) }
            outcomes.append(.accepted(storedEvent))
        }
        return outcomes
    }

    /// Whether the event a seed gives `id` is stored already, as `event`: every field the
    /// sender gave must be the same (`ts` only when the sender gave it; otherwise it is the
    /// receive time, which differs on a retry).
    ///
    /// - Throws: ``EventIDSeedConflict`` when another event holds the id.
    private static func seededEventExists(
        _ id: EventID, as event: NewEvent, environment: String, index: Int, connection: SQLiteConnection
    ) throws -> Bool {
        var same: Bool?
        try connection.query(
            "SELECT environment, name, data, user, dedupe_id, ts, v FROM events WHERE id = ?", [.text(id.description)]
        ) { row in
            // Byte for byte: String's == holds canonically equivalent spellings equal (é and
            // e + U+0301), which are different events to JSON and to their senders.
            func equal(_ stored: String?, _ sent: String?) -> Bool {
                switch (stored, sent) {
                case (nil, nil): return true
                case (let stored?, let sent?): return stored.utf8.elementsEqual(sent.utf8)
                default: return false
                }
            }
            same = equal(row.text(0), environment) && equal(row.text(1), event.name) && equal(row.text(2), event.dataText)
                && equal(row.text(3), event.userText) && equal(row.text(4), event.dedupeID) && equal(row.text(6), event.v)
                && (!event.timestampGiven || row.integer(5) == event.ts)
        }
        guard let same else { return false }
        guard same else { throw EventIDSeedConflict(eventID: id, index: index) }
        return true
    }

    public func event(id: EventID, environment: String) async throws -> StoredEvent? {
        try await read { connection in
            var found: StoredEvent?
            try connection.query(
                "SELECT \(Self.eventColumns) FROM events WHERE id = ? AND environment = ?",
                [.text(id.description), .text(environment)]
            ) { row in
                found = try Self.storedEvent(row)
            }
            return found
        }
    }

    public func events(_ query: EventQuery) async throws -> EventPage {
        let query = try query.validated()
        return try await read { connection in
            // Newest first, strictly before the cursor; fetch one more than a page to learn
            // whether another page follows.
            let cursorTime = query.cursor?.receivedAt ?? Int64.max
            let cursorID = query.cursor?.eventID.description ?? "~"
            var sql = "SELECT \(Self.eventColumns) FROM events WHERE environment = ?"
            var values: [SQLiteValue] = [.text(query.environment)]
            if let name = query.name {
                sql += " AND name = ?"
                values.append(.text(name))
            }
            sql += " AND received_at >= ? AND received_at < ? AND (received_at, id) < (?, ?)"
            sql += " ORDER BY received_at DESC, id DESC LIMIT ?"
            values += [
                .integer(query.since ?? Int64.min), .integer(query.until ?? Int64.max),
                .integer(cursorTime), .text(cursorID), .integer(Int64(query.limit + 1)),
            ]
            // A row that cannot be read is reported beside the page, not thrown: one bad row
            // must not hide every other event (invariant 7).
            var rows: [(position: EventCursor?, event: Result<StoredEvent, SQLiteStoreError>)] = []
            try connection.query(sql, values) { row in
                let position = row.text(EventColumn.id).flatMap(EventID.init).map {
                    EventCursor(receivedAt: row.integer(EventColumn.receivedAt), eventID: $0)
                }
                do {
                    rows.append((position, .success(try Self.storedEvent(row))))
                } catch let error as SQLiteStoreError {
                    rows.append((position, .failure(error)))
                }
            }
            var next: EventCursor?
            if rows.count > query.limit {
                rows.removeLast()
                next = rows.last?.position
            }
            var events: [StoredEvent] = []
            var unreadable: [UnreadableRecord] = []
            for (position, event) in rows {
                switch event {
                case .success(let event):
                    events.append(event)
                case .failure(let error):
                    unreadable.append(UnreadableRecord(kind: "event", id: position?.eventID.description ?? "?", reason: error.description))
                }
            }
            return EventPage(events: events, nextCursor: next, unreadable: unreadable)
        }
    }

    static let eventColumns = EventColumn.list

    /// Reads a row of ``eventColumns``. A row that does not parse means the file was changed
    /// behind Stepwise's back: reported as corruption rather than trusted.
    static func storedEvent(_ row: SQLiteStatement) throws -> StoredEvent {
        guard let idText = row.text(EventColumn.id), let id = EventID(idText) else {
            throw SQLiteStoreError.corruptRow(table: "events", reason: "an id is not a ULID")
        }
        let data: JSON
        do {
            data = try JSON(parsing: row.text(EventColumn.data) ?? "")
        } catch {
            throw SQLiteStoreError.corruptRow(table: "events", reason: "the data of event \(idText) is not JSON: \(error)")
        }
        var user: JSON?
        if let userText = row.text(EventColumn.user) {
            do {
                user = try JSON(parsing: userText)
            } catch {
                throw SQLiteStoreError.corruptRow(table: "events", reason: "the user of event \(idText) is not JSON: \(error)")
            }
        }
        return StoredEvent(
            id: id, environment: row.text(EventColumn.environment) ?? "", name: row.text(EventColumn.name) ?? "", data: data,
            user: user, dedupeID: row.text(EventColumn.dedupeID), ts: row.integer(EventColumn.ts), v: row.text(EventColumn.v),
            receivedAt: row.integer(EventColumn.receivedAt), traceContext: row.text(EventColumn.traceContext).flatMap(TraceContext.init(serialized:)))
    }
}
