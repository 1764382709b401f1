/// Functions, their triggers and schedules, and the runs they start: kept and inserted
/// here, decided by the engine (``TriggerIndex``, ``NewRun``, ``ScheduleFiring``).
extension SQLiteStore {
    public func register(_ registration: FunctionRegistration) async throws {
        try await writer.write { connection in
            let environment = SQLiteValue.text(registration.environment)
            let app = SQLiteValue.text(registration.appID)
            if registration.isCompleteSet {
                let ids = JSON.array(registration.functions.map { .string($0.id) }).serialized
                try connection.run(
                    "DELETE FROM functions WHERE environment = ? AND app_id = ? AND function_id NOT IN (SELECT value FROM json_each(?))",
                    environment, app, .text(ids))
            }
            for function in registration.functions {
                let id = SQLiteValue.text(function.id)
                try connection.run(
                    """
                    INSERT INTO functions (environment, app_id, function_id, registered_at, settings) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT DO UPDATE SET registered_at = excluded.registered_at, settings = excluded.settings
                    """,
                    environment, app, id, .integer(registration.now), .text(function.settings.json.serialized))
                try connection.run(
                    "DELETE FROM function_triggers WHERE environment = ? AND app_id = ? AND function_id = ?", environment, app, id)
                // Schedules kept unchanged keep their next tick; new ones start from the first.
                let kept = JSON.array(function.schedules.map { .string("\($0.expression)\u{1F}\($0.timeZone)") }).serialized
                try connection.run(
                    """
                    DELETE FROM cron_schedules WHERE environment = ? AND app_id = ? AND function_id = ?
                      AND expression || char(31) || time_zone NOT IN (SELECT value FROM json_each(?))
                    """,
                    environment, app, id, .text(kept))
                for schedule in function.schedules {
                    try connection.run(
                        """
                        INSERT INTO cron_schedules (environment, app_id, function_id, expression, time_zone, next_at)
                        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                        """,
                        environment, app, id, .text(schedule.expression), .text(schedule.timeZone), .integer(schedule.firstTickAt))
                }
                for trigger in function.triggers {
                    try connection.run(
                        "INSERT INTO function_triggers (environment, app_id, function_id, pattern, is_prefix, conditions) VALUES (?, ?, ?, ?, ?, ?)",
                        environment, app, id, .text(trigger.pattern.text), .integer(trigger.pattern.isPrefix ? 1 : 0),
                        trigger.storedConditions.map { .text($0.serialized) } ?? .null)
                }
            }
        }
    }

    /// The triggers of `environment`, with their functions' settings, for the engine's index:
    /// read once per appended batch.
    static func triggerIndex(environment: String, connection: SQLiteConnection) throws -> TriggerIndex {
        var triggers: [RegisteredTrigger] = []
        try connection.query(
            """
            SELECT t.app_id, t.function_id, t.pattern, t.is_prefix, t.conditions, f.settings
            FROM function_triggers AS t
            LEFT JOIN functions AS f ON f.environment = t.environment AND f.app_id = t.app_id AND f.function_id = t.function_id
            WHERE t.environment = ?
            """,
            [.text(environment)]
        ) { row in
            let pattern = row.text(2) ?? ""
            let trigger: TriggerRegistration
            do {
                trigger = try TriggerRegistration(
                    pattern: EventPattern(row.integer(3) == 1 ? pattern + "*" : pattern), storedConditions: try storedJSON(row.text(4)))
            } catch {
                throw SQLiteStoreError.corruptRow(table: "function_triggers", reason: "\(error)")
            }
            triggers.append(RegisteredTrigger(
                appID: row.text(0) ?? "", functionID: row.text(1) ?? "", trigger: trigger, settings: settings(row.text(5))))
        }
        return TriggerIndex(triggers)
    }

    /// The settings of a function as stored; none when the text is missing or unreadable (a
    /// cancellation that cannot be read cannot fire, and the run goes on as without it).
    static func settings(_ text: String?) -> FunctionSettings {
        guard let text, let json = try? JSON(parsing: text) else { return FunctionSettings() }
        return FunctionSettings(json: json)
    }

    /// The settings of one function, for a run started outside fan-out (a rerun).
    static func settings(environment: String, app: String, function: String, connection: SQLiteConnection) throws -> FunctionSettings? {
        var found: FunctionSettings?
        try connection.query(
            "SELECT settings FROM functions WHERE environment = ? AND app_id = ? AND function_id = ?",
            [.text(environment), .text(app), .text(function)]
        ) { row in found = settings(row.text(0)) }
        return found
    }

    /// A JSON column's value; `nil` for NULL.
    ///
    /// - Throws: the parse error, for text that is not JSON.
    static func storedJSON(_ text: String?) throws -> JSON? {
        guard let text else { return nil }
        return try JSON(parsing: text)
    }

    /// Creates one run for every registered function the engine says `event` triggers
    /// (fan-out), inside the transaction that stores the event.
    ///
    /// - Returns: whether a run it created waits for events (its cancelOn).
    static func createRuns(
        for event: StoredEvent, triggers: TriggerIndex, generator: ULIDGenerator, connection: SQLiteConnection, stored: inout [StoredEvent]
    ) throws -> Bool {
        let targets = triggers.targets(for: event)
        guard !targets.isEmpty else { return false }
        var waits = false
        for target in targets {
            switch NewRun.admitted(id: RunID(generator.next(milliseconds: event.receivedAt)), target: target, by: event) {
            case .run(let run) where run.flow.batch != nil || run.flow.debounce != nil || run.flow.singleton != nil:
                if try place(run, for: event, generator: generator, connection: connection, stored: &stored), !run.waits.isEmpty {
                    waits = true
                }
            case .run(let run):
                if try insertRun(run, environment: event.environment, eventIDs: [event.id], connection: connection), !run.waits.isEmpty {
                    waits = true
                }
            case .refused(let record):
                try recordAdmission(record, environment: event.environment, connection: connection)
            }
        }
        return waits
    }

    /// Inserts `run`, started by the events `eventIDs` (one, or a batch's in order), with its
    /// waits; a run that is no rerun is inserted only if its function has none for the first
    /// event yet (a retried append).
    ///
    /// - Returns: whether the run was inserted.
    @discardableResult
    static func insertRun(_ run: NewRun, environment: String, eventIDs: [EventID], connection: SQLiteConnection) throws -> Bool {
        guard let eventID = eventIDs.first else {
            throw SQLiteStoreError.invalidCheckpoint(reason: "run \(run.id) must be started by at least one event")
        }
        guard run.flow.isEmpty else {
            return try insertFlowControlledRun(run, environment: environment, eventIDs: eventIDs, connection: connection)
        }
        let insert = try connection.statement(
            """
            INSERT OR IGNORE INTO runs (id, environment, app_id, function_id, event_id, status, available_at, created_at, rerun_of, event_count)
            VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)
            """)
        defer { insert.reset() }
        try insert.bind(.text(run.id.description), at: 1)
        try insert.bind(.text(environment), at: 2)
        try insert.bind(.text(run.appID), at: 3)
        try insert.bind(.text(run.functionID), at: 4)
        try insert.bind(.text(eventID.description), at: 5)
        try insert.bind(.integer(run.availableAt), at: 6)
        try insert.bind(.integer(run.createdAt), at: 7)
        try insert.bind(run.rerunOf.map { .text($0.description) } ?? .null, at: 8)
        try insert.bind(.integer(Int64(eventIDs.count)), at: 9)
        while try insert.step() {}
        guard connection.changes == 1 else { return false }
        try insertRunRows(run, eventIDs: eventIDs, environment: environment, connection: connection)
        return true
    }

    /// A run's rows besides its own: its events when there are several, and its waits.
    static func insertRunRows(_ run: NewRun, eventIDs: [EventID], environment: String, connection: SQLiteConnection) throws {
        if eventIDs.count > 1 {
            for (position, id) in eventIDs.enumerated() {
                try connection.run(
                    "INSERT INTO run_events (run_id, position, event_id) VALUES (?, ?, ?)",
                    .text(run.id.description), .integer(Int64(position)), .text(id.description))
            }
        }
        for wait in run.waits {
            try insertWait(wait, runID: run.id, environment: environment, connection: connection)
        }
    }

    /// Inserts a wait of a run; a step's wait registered again keeps one row, with the new
    /// expiry.
    static func insertWait(_ wait: RunWait, runID: RunID, environment: String, connection: SQLiteConnection) throws {
        try connection.run(
            """
            INSERT INTO run_waits (environment, run_id, kind, step_key, event_name, match_path, match_value, condition, expires_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (run_id, step_key, event_name) DO UPDATE SET expires_at = excluded.expires_at
            """,
            .text(environment), .text(runID.description), .text(wait.kind.rawValue), .text(wait.stepKey), .text(wait.eventName),
            wait.matchPath.map(SQLiteValue.text) ?? .null, wait.matchValue.map { .text($0.serialized) } ?? .null,
            wait.condition.map { .text($0.description) } ?? .null, .integer(wait.expiresAt))
    }
}

extension SQLiteStore {
    public func dueSchedules(environment: String, appID: String, functionIDs: [String], now: Int64) async throws -> [ScheduleRecord] {
        guard !functionIDs.isEmpty else { return [] }
        let ids = JSON.array(functionIDs.map { .string($0) }).serialized
        // On a reader connection: the worker asks before every claim, and almost always no
        // tick is due; only a firing is worth a turn of the writer.
        return try await read { connection in
            var due: [ScheduleRecord] = []
            try connection.query(
                """
                SELECT function_id, expression, time_zone, next_at FROM cron_schedules
                WHERE environment = ? AND app_id = ? AND next_at <= ? AND function_id IN (SELECT value FROM json_each(?))
                """,
                [.text(environment), .text(appID), .integer(now), .text(ids)]
            ) { row in
                due.append(ScheduleRecord(
                    appID: appID, functionID: row.text(0) ?? "", expression: row.text(1) ?? "", timeZone: row.text(2) ?? "UTC",
                    nextAt: row.integer(3)))
            }
            return due
        }
    }

    public func fire(_ firings: [ScheduleFiring], environment: String, afterCommit: (@Sendable ([StoredEvent]) -> Void)?) async throws -> Int {
        guard !firings.isEmpty else { return 0 }
        let generator = idGenerator
        let receivedAt = firings.map(\.run.createdAt).max() ?? 0
        let publishing = EventBatch(environment: environment, events: [], receivedAt: receivedAt, dedupeWindow: 0, afterCommit: afterCommit)
        let result = try await writer.write({ connection -> AppendResult in
            var outcomes: [EventAppendOutcome] = []
            var stored: [StoredEvent] = []
            for firing in firings {
                let schedule = firing.schedule
                // Whoever moves the schedule on from this tick fires it: a second worker's
                // firing of the same tick changes nothing.
                let moved = try connection.run(
                    """
                    UPDATE cron_schedules SET next_at = ?
                    WHERE environment = ? AND app_id = ? AND function_id = ? AND expression = ? AND time_zone = ? AND next_at = ?
                    """,
                    .integer(firing.nextAt), .text(environment), .text(schedule.appID), .text(schedule.functionID),
                    .text(schedule.expression), .text(schedule.timeZone), .integer(schedule.nextAt))
                guard moved == 1 else { continue }
                let appended = try Self.appendEvents(
                    EventBatch(environment: environment, events: [firing.event], receivedAt: firing.run.createdAt, dedupeWindow: 0),
                    generator: generator, connection: connection, stored: &stored)
                guard case .accepted(let event)? = appended.first else { continue }
                try Self.insertRun(firing.run, environment: environment, eventIDs: [event.id], connection: connection)
                outcomes += appended
            }
            return AppendResult(outcomes: outcomes, stored: stored)
        }, afterCommit: Self.publishingStored(publishing))
        return result.outcomes.count
    }
}
