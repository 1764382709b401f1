@_spi(StoreImplementation) public import Stepwise
import PostgresNIO

extension PostgresStore {
    public func append(_ batch: EventBatch) async throws -> [EventAppendOutcome] {
        let result = try await append(batch, claiming: nil)
        Self.publish(result.stored, to: batch.afterCommit)
        return result.outcomes
    }

    /// A batch appended, and the claim that follows it in its transaction when `request` is
    /// given.
    func append(_ batch: EventBatch, claiming request: ClaimRequest?) async throws -> AppendResult {
        if let result = try await appendInOneStatement(batch, claiming: request) {
            if !result.outcomes.isEmpty { notifier.mark(batch.environment, coveredBy: result.coveredBy) }
            return result
        }
        let result = try await transaction { transaction in
            var stored: [StoredEvent] = []
            let outcomes = try await appendEvents(batch, in: transaction, stored: &stored)
            return AppendResult(outcomes: outcomes, stored: stored, claimRows: try await claimRows(request, in: transaction))
        }
        if !result.stored.isEmpty { notifier.mark(batch.environment) }
        return result
    }

    /// The hot path of ingest: a batch with no seed and no dedupe id, in an environment where
    /// no run waits for an event, as one call of `append_events` (schema 11), its own
    /// transaction. The events are fanned out with the environment's triggers as last read,
    /// and the function writes only if the environment's registry version is still the one
    /// they were read at and no wait has appeared: otherwise it writes nothing and the batch
    /// takes the general path, a transaction that reads both anew. With `request`, the claim
    /// follows in the same statement, as a checkpoint's does (``commit(_:claiming:)``).
    ///
    /// - Returns: the outcomes, or `nil` when the batch must take the general path.
    private func appendInOneStatement(_ batch: EventBatch, claiming request: ClaimRequest?) async throws -> AppendResult? {
        guard batch.idSeed == nil, !batch.events.isEmpty, !batch.events.contains(where: { $0.dedupeID != nil }) else { return nil }
        let environment = batch.environment
        guard !environmentsWithWaits.withLock({ $0.contains(environment) }) else { return nil }
        let cached = try await cachedTriggers(environment: environment)
        var accepted: [AcceptedEvent] = []
        var runs: [(run: NewRun, eventID: EventID)] = []
        for event in batch.events {
            let stored = StoredEvent(
                id: EventID(idGenerator.next(milliseconds: batch.receivedAt)), environment: environment, name: event.name, data: event.data,
                user: event.user, dedupeID: nil, ts: event.ts, v: event.v, receivedAt: batch.receivedAt, traceContext: event.traceContext)
            accepted.append(AcceptedEvent(event: stored, dataText: event.dataText, userText: event.userText))
            for target in cached.index.targets(for: stored) {
                if target.appliesFlowControl { return nil }
                let run = NewRun.triggered(
                    id: RunID(idGenerator.next(milliseconds: stored.receivedAt)), appID: target.appID, functionID: target.functionID,
                    settings: target.settings, by: stored)
                runs.append((run, stored.id))
            }
        }
        // A run's cancelOn waits for the events after the one that started it: in a batch of
        // several, the general path resolves them in order.
        let waits = runs.flatMap { run in run.run.waits.map { (run.run.id, $0) } }
        guard waits.isEmpty || batch.events.count == 1 else { return nil }

        let events = accepted.map(\.event)
        var query = PostgresQuery.StringInterpolation(literalCapacity: 64, interpolationCount: 32)
        query.appendLiteral(request == nil ? "SELECT written, found_version" : "SELECT claimed.*, appended.written, appended.found_version")
        query.appendLiteral(" FROM append_events(")
        query.appendInterpolation(environment)
        query.appendLiteral(", ")
        query.appendInterpolation(cached.version)
        query.appendLiteral(", ")
        query.appendInterpolation(batch.receivedAt)
        query.appendLiteral(", ")
        query.appendInterpolation(events.map(\.id.description))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(events.map(\.name))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(accepted.map(\.dataText))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(NullableTextArray(accepted.map(\.userText)))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(events.map(\.ts))
        query.appendLiteral("::bigint[], ")
        query.appendInterpolation(NullableTextArray(events.map(\.v)))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(NullableTextArray(events.map(\.traceContext?.serialized)))
        query.appendLiteral("::text[], ")
        Self.appendStartedRuns(runs, to: &query)
        query.appendInterpolation(waits.map(\.0.description))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(waits.map(\.1.kind.rawValue))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(waits.map(\.1.stepKey))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(waits.map(\.1.eventName))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(NullableTextArray(waits.map(\.1.matchPath)))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(NullableTextArray(waits.map { $0.1.matchValue?.serialized }))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(NullableTextArray(waits.map { $0.1.condition?.description }))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(waits.map(\.1.expiresAt))
        query.appendLiteral("::bigint[]) AS appended")
        if let request {
            query.appendLiteral(" LEFT JOIN LATERAL ")
            Self.appendClaimCall(request, onlyIf: "appended.written", to: &query)
            query.appendLiteral(" AS claimed ON true")
        }
        let rows = try await autocommit { transaction in try await transaction.rows(PostgresQuery(stringInterpolation: query)) }
        let firstColumn = request == nil ? 0 : Self.claimColumns
        let row = rows.first
        let claimRows = request == nil ? [] : try Self.claimRows(rows)
        guard let row, try row[firstColumn].decode(Bool.self) else {
            if try row?.integer(firstColumn + 1) == cached.version {
                // Runs wait for events here: the general path resolves them.
                environmentsWithWaits.withLock { _ = $0.insert(environment) }
            } else {
                // Another process registered functions: read them anew.
                triggerCache.withLock { _ = $0.removeValue(forKey: environment) }
            }
            return nil
        }
        let coveredBy = request.flatMap { request in
            Self.covering(request, claimed: claimRows.count, dueLater: runs.contains { $0.run.availableAt > request.now })
        }
        return AppendResult(outcomes: events.map(EventAppendOutcome.accepted), stored: events, claimRows: claimRows, coveredBy: coveredBy)
    }

    /// Appends the arguments `append_events` and `commit_checkpoint_with_events` take for the
    /// runs their events start, in their order (ids, apps, functions, events, due and
    /// creation times), each followed by a comma.
    static func appendStartedRuns(_ runs: [(run: NewRun, eventID: EventID)], to query: inout PostgresQuery.StringInterpolation) {
        query.appendInterpolation(runs.map(\.run.id.description))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(runs.map(\.run.appID))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(runs.map(\.run.functionID))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(runs.map(\.eventID.description))
        query.appendLiteral("::text[], ")
        query.appendInterpolation(runs.map(\.run.availableAt))
        query.appendLiteral("::bigint[], ")
        query.appendInterpolation(runs.map(\.run.createdAt))
        query.appendLiteral("::bigint[], ")
    }

    /// The environment's triggers as this instance last read them, with the registry version
    /// they were read at; read now when there are none.
    func cachedTriggers(environment: String) async throws -> CachedTriggers {
        if let known = triggerCache.withLock({ $0[environment] }) { return known }
        let cached = try await read { transaction in
            // The version first: a registration committing between the two reads then pairs
            // an older version with newer triggers, which the guard refuses (and the next
            // append reads again), never newer version with older triggers, which it would
            // accept.
            let version = try await registryVersion(environment: environment, in: transaction)
            return CachedTriggers(version: version, index: try await triggerIndex(environment: environment, in: transaction))
        }
        triggerCache.withLock { $0[environment] = cached }
        return cached
    }

    /// The environment's registry version now.
    func registryVersion(environment: String) async throws -> Int64 {
        try await read { transaction in try await registryVersion(environment: environment, in: transaction) }
    }

    /// The environment's registry version, 0 before its first registration.
    func registryVersion(environment: String, in transaction: PostgresTransaction) async throws -> Int64 {
        try await transaction.row("SELECT version FROM registry_versions WHERE environment = \(environment)")?.integer(0) ?? 0
    }

    /// What a transaction that appends events did: its batch's outcomes, and every event it
    /// stored in the order stored (each event, then the system events it set off).
    struct AppendResult: Sendable {
        var outcomes: [EventAppendOutcome]
        var stored: [StoredEvent]
        /// The rows of the claim made in the append's transaction, if one was asked for.
        var claimRows: [PostgresRandomAccessRow] = []
        /// The claimer that claim covered (``PostgresNotifier/mark(_:coveredBy:)``).
        var coveredBy: String?
    }

    /// Calls an after-commit hook with the events a committed transaction stored, if any.
    static func publish(_ stored: [StoredEvent], to afterCommit: (@Sendable ([StoredEvent]) -> Void)?) {
        guard let afterCommit, !stored.isEmpty else { return }
        afterCommit(stored)
    }

    /// Appends a batch inside a transaction, with the runs its events trigger and the waits
    /// they resolve, as ``Store/append(_:)`` says, in few statements whatever the batch's size:
    /// the dedupe ids and seeds are decided first (one statement per dedupe id, since two
    /// transactions racing for one are settled by its primary key), then every accepted
    /// event is inserted by one statement, their runs by another, and the waits they match
    /// are resolved event by event, in order.
    ///
    /// Every event stored is added to `stored`: each of the batch's, followed by those that
    /// resolving its waits appended in turn.
    func appendEvents(_ batch: EventBatch, in transaction: PostgresTransaction, stored: inout [StoredEvent]) async throws
        -> [EventAppendOutcome]
    {
        guard !batch.events.isEmpty else { return [] }
        let environment = batch.environment
        let windowStart = batch.receivedAt - batch.dedupeWindow
        let seeded = try await seededEvents(batch, in: transaction)
        var outcomes: [EventAppendOutcome] = []
        outcomes.reserveCapacity(batch.events.count)
        var accepted: [AcceptedEvent] = []
        // A seeded batch is a first try (none of its ids taken) or a retry of one (each of its
        // events stored under its id, or dropped as a duplicate as the first try dropped it):
        // a batch that is partly one and partly the other is another request under a used
        // seed, and is refused whole by throwing, which rolls the transaction back.
        var seedAnswered: Int?
        var seedStored: Int?
        for (index, event) in batch.events.enumerated() {
            let seededID = batch.idSeed?.eventID(at: index)
            if let seededID, let existing = seeded[seededID] {
                guard existing.isSame(as: event, environment: environment) else { throw EventIDSeedConflict(eventID: seededID, index: index) }
                if let seedStored, let storedID = batch.idSeed?.eventID(at: seedStored) {
                    throw EventIDSeedConflict(eventID: storedID, index: seedStored, isBeyondFirstTry: true)
                }
                seedAnswered = index
                outcomes.append(.duplicate(of: seededID))
                continue
            }
            let id = seededID ?? EventID(idGenerator.next(milliseconds: batch.receivedAt))
            if let dedupeID = event.dedupeID {
                // The key is claimed before the event exists: of two transactions racing for
                // it, the second waits on the primary key and then finds the first's row.
                // Earlier in this batch shows up here too: its row is written already.
                let owner = try await transaction.row(
                    """
                    INSERT INTO event_dedupe (environment, dedupe_id, event_id, accepted_at)
                    VALUES (\(environment), \(dedupeID), \(id.description), \(batch.receivedAt))
                    ON CONFLICT (environment, dedupe_id) DO UPDATE
                        SET event_id = excluded.event_id, accepted_at = excluded.accepted_at
                        WHERE event_dedupe.accepted_at <= \(windowStart)
                    RETURNING event_id
                    """)
                if owner == nil {
                    let existing = try await transaction.row(
                        "SELECT event_id FROM event_dedupe WHERE environment = \(environment) AND dedupe_id = \(dedupeID)")
                    guard let text = try existing?.text(0), let existingID = EventID(text) else {
                        throw PostgresStoreError.corruptRow(table: "event_dedupe", reason: "dedupe id '\(dedupeID)' names no event id")
                    }
                    outcomes.append(.duplicate(of: existingID))
                    continue
                }
            }
            if let seededID {
                if seedAnswered != nil { throw EventIDSeedConflict(eventID: seededID, index: index, isBeyondFirstTry: true) }
                seedStored = index
            }
            let storedEvent = StoredEvent(
                id: id, environment: environment, name: event.name, data: event.data, user: event.user, dedupeID: event.dedupeID,
                ts: event.ts, v: event.v, receivedAt: batch.receivedAt, traceContext: event.traceContext)
            accepted.append(AcceptedEvent(event: storedEvent, dataText: event.dataText, userText: event.userText))
            outcomes.append(.accepted(storedEvent))
        }
        guard !accepted.isEmpty else { return outcomes }
        try await insertEvents(accepted, in: transaction)
        let events = accepted.map(\.event)

        let triggers = try await triggerIndex(environment: environment, in: transaction)
        var runs: [(run: NewRun, eventIDs: [EventID])] = []
        // Which event of the batch started each run with waits: a run's cancelOn waits for
        // the events after the one that started it, never for that one or earlier ones.
        var startedBy: [RunID: Int] = [:]
        var placedWithWaits = false
        for (position, event) in events.enumerated() {
            for target in triggers.targets(for: event) {
                switch NewRun.admitted(id: RunID(idGenerator.next(milliseconds: event.receivedAt)), target: target, by: event) {
                case .run(let run) where run.flow.batch != nil || run.flow.debounce != nil || run.flow.singleton != nil:
                    // In order, before the batch's other runs: it may fold into a run it must see.
                    if try await place(run, for: event, in: transaction, stored: &stored), !run.waits.isEmpty {
                        startedBy[run.id] = position
                        placedWithWaits = true
                    }
                case .run(let run):
                    runs.append((run, [event.id]))
                    if !run.waits.isEmpty { startedBy[run.id] = position }
                case .refused(let record):
                    try await recordAdmission(record, environment: environment, in: transaction)
                }
            }
        }
        let inserted = try await insertRuns(runs, environment: environment, in: transaction)
        let newWaits = placedWithWaits || runs.contains { inserted.contains($0.run.id) && !$0.run.waits.isEmpty }
        var mayResolve = newWaits
        if !mayResolve {
            mayResolve = try await hasWaits(environment: environment, in: transaction)
            // None waits any more: the environment's appends may take the one-statement path.
            if !mayResolve { environmentsWithWaits.withLock { _ = $0.remove(environment) } }
        }
        guard mayResolve else {
            stored += events
            return outcomes
        }
        for (position, event) in events.enumerated() {
            stored.append(event)
            try await resolveWaits(for: event, in: transaction, stored: &stored) { runID in
                startedBy[runID].map { $0 >= position } ?? false
            }
        }
        return outcomes
    }

    /// An event as stored, for comparing with one sent again under its seed.
    struct SeededEvent {
        let environment: String
        let name: String
        let data: String
        let user: String?
        let dedupeID: String?
        let ts: Int64
        let v: String?

        /// Whether `event` is this one sent again: every field the sender gave the same, byte
        /// for byte (`ts` only when the sender gave it; otherwise it is the receive time,
        /// which differs on a retry).
        func isSame(as event: NewEvent, environment other: String) -> Bool {
            func equal(_ stored: String?, _ sent: String?) -> Bool {
                switch (stored, sent) {
                case (nil, nil): true
                case (let stored?, let sent?): stored.utf8.elementsEqual(sent.utf8)
                default: false
                }
            }
            return equal(environment, other) && equal(name, event.name) && equal(data, event.dataText) && equal(user, event.userText)
                && equal(dedupeID, event.dedupeID) && equal(v, event.v) && (!event.timestampGiven || ts == event.ts)
        }
    }

    /// The events already stored under the batch's seeded ids, after taking the seed's lock:
    /// two tries of one request racing are settled one after the other, the second finding
    /// the first's events.
    private func seededEvents(_ batch: EventBatch, in transaction: PostgresTransaction) async throws -> [EventID: SeededEvent] {
        guard let seed = batch.idSeed else { return [:] }
        let ids = batch.events.indices.map { seed.eventID(at: $0) }
        guard let first = ids.first else { return [:] }
        try await transaction.execute("SELECT pg_advisory_xact_lock(hashtextextended(\(first.description), 0))")
        var found: [EventID: SeededEvent] = [:]
        for row in try await transaction.rows(
            "SELECT id, environment, name, data, \"user\", dedupe_id, ts, v FROM events WHERE id = ANY(\(ids.map(\.description)))")
        {
            guard let id = try row.text(0).flatMap(EventID.init) else { continue }
            found[id] = SeededEvent(
                environment: try row.text(1) ?? "", name: try row.text(2) ?? "", data: try row.text(3) ?? "", user: try row.text(4),
                dedupeID: try row.text(5), ts: try row.integer(6), v: try row.text(7))
        }
        return found
    }

    /// An event accepted by an append, with its JSON as the sender's text: stored as sent.
    struct AcceptedEvent {
        let event: StoredEvent
        let dataText: String
        let userText: String?
    }

    /// Inserts events in one statement.
    private func insertEvents(_ events: [AcceptedEvent], in transaction: PostgresTransaction) async throws {
        guard let first = events.first?.event else { return }
        var ids: [String] = [], names: [String] = [], data: [String] = [], users: [String?] = [], dedupe: [String?] = []
        var ts: [Int64] = [], versions: [String?] = [], traces: [String?] = []
        for accepted in events {
            let event = accepted.event
            ids.append(event.id.description)
            names.append(event.name)
            data.append(accepted.dataText)
            users.append(accepted.userText)
            dedupe.append(event.dedupeID)
            ts.append(event.ts)
            versions.append(event.v)
            traces.append(event.traceContext?.serialized)
        }
        try await transaction.execute(
            """
            INSERT INTO events (id, environment, name, data, "user", dedupe_id, ts, v, received_at, trace_context)
            SELECT id, \(first.environment), name, data, "user", dedupe_id, ts, v, \(first.receivedAt), trace_context
            FROM unnest(\(ids)::text[], \(names)::text[], \(data)::text[], \(NullableTextArray(users))::text[], \(NullableTextArray(dedupe))::text[], \(ts)::bigint[],
                        \(NullableTextArray(versions))::text[], \(NullableTextArray(traces))::text[]) AS e (id, name, data, "user", dedupe_id, ts, v, trace_context)
            """)
    }

    public func event(id: EventID, environment: String) async throws -> StoredEvent? {
        try await read { transaction in
            guard let row = try await transaction.row(
                "SELECT \(unescaped: Self.eventColumns) FROM events WHERE id = \(id.description) AND environment = \(environment)")
            else { return nil }
            return try Self.storedEvent(row)
        }
    }

    public func events(_ query: EventQuery) async throws -> EventPage {
        let query = try query.validated()
        return try await read { transaction in
            // Newest first, strictly before the cursor; one more than a page, to learn whether
            // another page follows.
            let cursorTime = query.cursor?.receivedAt ?? Int64.max
            let cursorID = query.cursor?.eventID.description ?? "~"
            let rows = try await transaction.rows(
                """
                SELECT \(unescaped: Self.eventColumns) FROM events
                WHERE environment = \(query.environment) AND (\(query.name)::text IS NULL OR name = \(query.name))
                  AND received_at >= \(query.since ?? Int64.min) AND received_at < \(query.until ?? Int64.max)
                  AND (received_at, id) < (\(cursorTime), \(cursorID))
                ORDER BY received_at DESC, id DESC LIMIT \(Int64(query.limit + 1))
                """)
            // A row that cannot be read is reported beside the page, not thrown: one bad row
            // must not hide every other event (invariant 7).
            var page: [(position: EventCursor?, event: Result<StoredEvent, PostgresStoreError>)] = []
            for row in rows {
                let position = try row.text(0).flatMap(EventID.init).map { EventCursor(receivedAt: try row.integer(8), eventID: $0) }
                do {
                    page.append((position, .success(try Self.storedEvent(row))))
                } catch let error as PostgresStoreError {
                    page.append((position, .failure(error)))
                }
            }
            var next: EventCursor?
            if page.count > query.limit {
                page.removeLast()
                next = page.last?.position
            }
            var events: [StoredEvent] = []
            var unreadable: [UnreadableRecord] = []
            for (position, event) in page {
                switch event {
                case .success(let event): events.append(event)
                case .failure(let error):
                    unreadable.append(UnreadableRecord(kind: "event", id: position?.eventID.description ?? "?", reason: error.description))
                }
            }
            return EventPage(events: events, nextCursor: next, unreadable: unreadable)
        }
    }
}
