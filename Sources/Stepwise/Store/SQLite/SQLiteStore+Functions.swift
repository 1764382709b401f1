extension SQLiteStore {
    public func register(_ registration: FunctionRegistration) async throws {
        let now = registration.now
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
                let cancelOn = function.cancelOn.isEmpty ? SQLiteValue.null : .text(JSON.array(function.cancelOn.map(\.json)).serialized)
                try connection.run(
                    """
                    INSERT INTO functions (environment, app_id, function_id, registered_at, cancel_on) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT DO UPDATE SET registered_at = excluded.registered_at, cancel_on = excluded.cancel_on
                    """,
                    environment, app, id, .integer(now), cancelOn)
                try connection.run(
                    "DELETE FROM function_triggers WHERE environment = ? AND app_id = ? AND function_id = ?", environment, app, id)
                // Schedules kept unchanged keep their next tick; new ones start from now.
                let kept = JSON.array(function.schedules.map { .string("\($0.expression)\u{1F}\($0.timeZoneIdentifier)") }).serialized
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
                        environment, app, id, .text(schedule.expression), .text(schedule.timeZoneIdentifier),
                        .integer(schedule.next(after: registration.now) ?? Int64.max))
                }
                for trigger in function.triggers {
                    let conditions = trigger.conditions.isEmpty
                        ? SQLiteValue.null
                        : .text(JSON.object(JSON.Object(uniqueKeysWithValues: trigger.conditions.sorted { $0.key < $1.key }.map { (JSON.Key($0.key), $0.value) })).serialized)
                    try connection.run(
                        "INSERT INTO function_triggers (environment, app_id, function_id, pattern, is_prefix, conditions) VALUES (?, ?, ?, ?, ?, ?)",
                        environment, app, id, .text(trigger.pattern.text), .integer(trigger.pattern.isPrefix ? 1 : 0), conditions)
                }
            }
        }
    }

    /// Creates one run for every registered function whose trigger matches `event`
    /// (fan-out), inside the transaction that stores the event.
    static func createRuns(for event: StoredEvent, triggers: TriggerIndex, generator: ULIDGenerator, connection: SQLiteConnection) throws {
        let targets = triggers.targets(for: event)
        guard !targets.isEmpty else { return }
        for target in targets {
            try insertRun(
                app: target.app, function: target.function, event: event, generator: generator, connection: connection,
                cancelOn: .known(target.cancelOn))
        }
    }

    /// Inserts the run of `function` for `event`, unless it exists; answers its id either way.
    ///
    /// - Parameter cancelOn: the function's `cancelOn` settings, when the caller has them
    ///   (fan-out loads them with the triggers, once per batch), so that a run needs no look-up.
    @discardableResult
    static func insertRun(
        app: String, function: String, event: StoredEvent, generator: ULIDGenerator, connection: SQLiteConnection,
        cancelOn: StoredCancelOn = .unknown
    ) throws -> String {
        let insert = try connection.statement(
            """
            INSERT OR IGNORE INTO runs (id, environment, app_id, function_id, event_id, status, available_at, created_at)
            VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)
            """)
        defer { insert.reset() }
        let id = generator.next(milliseconds: event.receivedAt).description
        try insert.bind(.text(id), at: 1)
        try insert.bind(.text(event.environment), at: 2)
        try insert.bind(.text(app), at: 3)
        try insert.bind(.text(function), at: 4)
        try insert.bind(.text(event.id.description), at: 5)
        // An event whose ts lies in the future triggers its runs at that time.
        try insert.bind(.integer(max(event.receivedAt, event.ts)), at: 6)
        try insert.bind(.integer(event.receivedAt), at: 7)
        while try insert.step() {}
        if connection.changes == 1 {
            try registerCancellations(runID: id, app: app, function: function, event: event, connection: connection, cancelOn: cancelOn)
            return id
        }
        return try connection.scalarText(
            "SELECT id FROM runs WHERE environment = ? AND app_id = ? AND function_id = ? AND event_id = ? AND rerun_of IS NULL",
            .text(event.environment), .text(app), .text(function), .text(event.id.description)) ?? id
    }
}

extension SQLiteStore {
    /// Registers the waits through which the events of the function's `cancelOn` cancel a
    /// new run: matched like a step's wait, by index, when such an event is stored.
    static func registerCancellations(
        runID: String, app: String, function: String, event: StoredEvent, connection: SQLiteConnection, cancelOn stored: StoredCancelOn = .unknown
    ) throws {
        let settings: [(index: Int, cancelOn: CancelOn)]
        switch stored {
        case .known(let known):
            settings = known
        case .unknown:
            settings = StoredCancelOn.parse(try connection.scalarText(
                "SELECT cancel_on FROM functions WHERE environment = ? AND app_id = ? AND function_id = ?",
                .text(event.environment), .text(app), .text(function)))
        }
        guard !settings.isEmpty else { return }
        let envelope: JSON = ["name": .string(event.name), "data": event.data, "user": event.user ?? .null]
        for (index, cancelOn) in settings {
            let expiresAt = cancelOn.timeout.map { event.receivedAt + $0.milliseconds } ?? Int64.max
            let condition = cancelOn.condition.flatMap { try? EventCondition($0).binding(event: envelope) }
            try connection.run(
                """
                INSERT OR IGNORE INTO run_waits (environment, run_id, kind, step_key, event_name, match_path, match_value, condition, expires_at)
                VALUES (?, ?, 'cancel', ?, ?, ?, ?, ?, ?)
                """,
                .text(event.environment), .text(runID), .text("cancelOn:\(index)"), .text(cancelOn.eventName),
                cancelOn.match.map(SQLiteValue.text) ?? .null,
                cancelOn.match.map { .text((envelope.value(atPath: $0) ?? .null).serialized) } ?? .null,
                condition.map { .text($0.description) } ?? .null, .integer(expiresAt))
        }
    }
}

/// A function's stored `cancelOn` settings, when a caller has already read them.
enum StoredCancelOn {
    /// Not read yet: look them up.
    case unknown
    /// The settings, each with its position in the function's list (which names its wait).
    case known([(index: Int, cancelOn: CancelOn)])

    /// The settings in a `functions.cancel_on` text; none for `nil`.
    static func parse(_ text: String?) -> [(index: Int, cancelOn: CancelOn)] {
        guard let text, case .array(let entries)? = try? JSON(parsing: text) else { return [] }
        return entries.enumerated().compactMap { index, entry in CancelOn(json: entry).map { (index, $0) } }
    }
}

/// The triggers of one environment, loaded once per appended batch and matched in memory:
/// an exact name is a dictionary look-up, a prefix a scan of the (few) prefix triggers.
struct TriggerIndex {
    struct Target {
        let app: String
        let function: String
        let conditions: [String: JSON]
        /// The function's `cancelOn` settings, parsed once per batch rather than once per run.
        let cancelOn: [(index: Int, cancelOn: CancelOn)]
    }

    private var exact: [String: [Target]] = [:]
    private var prefixes: [(prefix: String, target: Target)] = []

    var isEmpty: Bool { exact.isEmpty && prefixes.isEmpty }

    static func load(environment: String, connection: SQLiteConnection) throws -> TriggerIndex {
        var index = TriggerIndex()
        try connection.query(
            """
            SELECT t.app_id, t.function_id, t.pattern, t.is_prefix, t.conditions, f.cancel_on
            FROM function_triggers AS t
            LEFT JOIN functions AS f ON f.environment = t.environment AND f.app_id = t.app_id AND f.function_id = t.function_id
            WHERE t.environment = ?
            """,
            [.text(environment)]
        ) { row in
            var conditions: [String: JSON] = [:]
            if let text = row.text(4) {
                guard case .object(let members)? = try? JSON(parsing: text) else {
                    throw SQLiteStoreError.corruptRow(table: "function_triggers", reason: "conditions are not a JSON object")
                }
                conditions = Dictionary(members.map { ($0.key.string, $0.value) }, uniquingKeysWith: { _, last in last })
            }
            let target = Target(app: row.text(0) ?? "", function: row.text(1) ?? "", conditions: conditions, cancelOn: StoredCancelOn.parse(row.text(5)))
            let pattern = row.text(2) ?? ""
            if row.integer(3) == 1 {
                index.prefixes.append((pattern, target))
            } else {
                index.exact[pattern, default: []].append(target)
            }
        }
        return index
    }

    /// The functions `event` starts a run of: each once, however many of its triggers match.
    func targets(for event: StoredEvent) -> [Target] {
        if isEmpty { return [] }
        var candidates = exact[event.name] ?? []
        for (prefix, target) in prefixes where event.name.hasPrefix(prefix) {
            candidates.append(target)
        }
        var targets: [Target] = []
        for candidate in candidates where !targets.contains(where: { $0.app == candidate.app && $0.function == candidate.function }) {
            guard TriggerRegistration.conditionsHold(candidate.conditions, name: event.name, data: event.data, user: event.user) else {
                continue
            }
            // A system event about a function never triggers that same function.
            if event.name.hasPrefix("stepwise/"), event.data["function_id"]?.stringValue == candidate.function,
               event.data["app_id"]?.stringValue == candidate.app
            {
                continue
            }
            targets.append(candidate)
        }
        return targets
    }
}

extension SQLiteStore {
    public func fireSchedules(
        environment: String, appID: String, functionIDs: [String], now: Int64, afterCommit: (@Sendable ([StoredEvent]) -> Void)?
    ) async throws -> Int {
        guard !functionIDs.isEmpty else { return 0 }
        let ids = JSON.array(functionIDs.map { .string($0) }).serialized
        // A read first, on a reader connection: the worker asks before every claim, and
        // almost always no tick is due; only then is it worth a turn of the writer.
        let anyDue = try await read { connection in
            try connection.scalarInteger(
                "SELECT 1 FROM cron_schedules WHERE environment = ? AND app_id = ? AND next_at <= ? LIMIT 1",
                .text(environment), .text(appID), .integer(now)) != nil
        }
        guard anyDue else { return 0 }
        let generator = idGenerator
        let batchForPublishing = EventBatch(environment: environment, events: [], receivedAt: now, dedupeWindow: 0, afterCommit: afterCommit)
        let result = try await writer.write({ connection -> AppendResult in
            var due: [(function: String, expression: String, timeZone: String, nextAt: Int64)] = []
            try connection.query(
                """
                SELECT function_id, expression, time_zone, next_at FROM cron_schedules
                WHERE environment = ? AND app_id = ? AND next_at <= ? AND function_id IN (SELECT value FROM json_each(?))
                """,
                [.text(environment), .text(appID), .integer(now), .text(ids)]
            ) { row in
                due.append((row.text(0) ?? "", row.text(1) ?? "", row.text(2) ?? "UTC", row.integer(3)))
            }
            var outcomes: [EventAppendOutcome] = []
            var stored: [StoredEvent] = []
            for schedule in due {
                // The ticks missed while no worker ran collapse into this one run.
                let next = (try? CronSchedule(schedule.expression, timeZone: schedule.timeZone))?.next(after: now) ?? Int64.max
                try connection.run(
                    """
                    UPDATE cron_schedules SET next_at = ?
                    WHERE environment = ? AND app_id = ? AND function_id = ? AND expression = ? AND time_zone = ?
                    """,
                    .integer(next), .text(environment), .text(appID), .text(schedule.function), .text(schedule.expression),
                    .text(schedule.timeZone))
                let data: JSON = [
                    "function_id": .string(schedule.function), "app_id": .string(appID), "cron": .string(schedule.expression),
                    "time_zone": .string(schedule.timeZone), "scheduled_at": .int(schedule.nextAt),
                ]
                let tick = NewEvent(systemEvent: SystemEvent.scheduledTimer, data: data, at: now)
                let appended = try Self.appendEvents(
                    EventBatch(environment: environment, events: [tick], receivedAt: now, dedupeWindow: 0),
                    generator: generator, connection: connection, stored: &stored)
                guard case .accepted(let event)? = appended.first else { continue }
                try Self.insertRun(app: appID, function: schedule.function, event: event, generator: generator, connection: connection)
                outcomes += appended
            }
            return AppendResult(outcomes: outcomes, stored: stored)
        }, afterCommit: Self.publishingStored(batchForPublishing))
        return result.outcomes.count
    }
}
