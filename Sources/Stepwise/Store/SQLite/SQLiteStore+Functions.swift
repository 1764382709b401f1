extension SQLiteStore {
    public func register(_ registration: FunctionRegistration) async throws {
        let now = SystemWallClock().now()
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
                    INSERT INTO functions (environment, app_id, function_id, registered_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT DO UPDATE SET registered_at = excluded.registered_at
                    """,
                    environment, app, id, .integer(now))
                try connection.run(
                    "DELETE FROM function_triggers WHERE environment = ? AND app_id = ? AND function_id = ?", environment, app, id)
                for trigger in function.triggers {
                    let conditions = trigger.conditions.isEmpty
                        ? SQLiteValue.null
                        : .text(JSON.object(.init(uniqueKeysWithValues: trigger.conditions.sorted { $0.key < $1.key })).serialized)
                    try connection.run(
                        "INSERT INTO function_triggers (environment, app_id, function_id, pattern, is_prefix, conditions) VALUES (?, ?, ?, ?, ?, ?)",
                        environment, app, id, .text(trigger.pattern.text), .integer(trigger.pattern.isPrefix ? 1 : 0), conditions)
                }
            }
        }
    }

    /// Creates one run for every registered function whose trigger matches `event`
    /// (fan-out), inside the transaction that stores the event.
    static func createRuns(for event: StoredEvent, generator: ULIDGenerator, connection: SQLiteConnection) throws {
        var targets: [(app: String, function: String)] = []
        try connection.query(
            """
            SELECT app_id, function_id, pattern, is_prefix, conditions FROM function_triggers
            WHERE environment = ?1 AND is_prefix = 0 AND pattern = ?2
            UNION ALL
            SELECT app_id, function_id, pattern, is_prefix, conditions FROM function_triggers
            WHERE environment = ?1 AND is_prefix = 1 AND substr(?2, 1, length(pattern)) = pattern
            """,
            [.text(event.environment), .text(event.name)]
        ) { row in
            let app = row.text(0) ?? ""
            let function = row.text(1) ?? ""
            if targets.contains(where: { $0.app == app && $0.function == function }) { return }
            if let conditionsText = row.text(4) {
                guard case .object(let conditions)? = try? JSON(parsing: conditionsText) else { return }
                let pattern = EventPattern((row.text(2) ?? "") + (row.integer(3) == 1 ? "*" : ""))
                let trigger = TriggerRegistration(
                    pattern: pattern, conditions: Dictionary(uniqueKeysWithValues: conditions.map { ($0.key, $0.value) }))
                guard trigger.accepts(name: event.name, data: event.data, user: event.user) else { return }
            }
            // A system event about a function never triggers that same function.
            if event.name.hasPrefix("stepwise/"), event.data["function_id"]?.stringValue == function,
               event.data["app_id"]?.stringValue == app
            {
                return
            }
            targets.append((app, function))
        }
        guard !targets.isEmpty else { return }
        // An event whose ts lies in the future triggers its runs at that time.
        let availableAt = max(event.receivedAt, event.ts)
        let insert = try connection.statement(
            """
            INSERT OR IGNORE INTO runs (id, environment, app_id, function_id, event_id, status, available_at, created_at)
            VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)
            """)
        for target in targets {
            defer { insert.reset() }
            try insert.bind(.text(generator.next(milliseconds: event.receivedAt).description), at: 1)
            try insert.bind(.text(event.environment), at: 2)
            try insert.bind(.text(target.app), at: 3)
            try insert.bind(.text(target.function), at: 4)
            try insert.bind(.text(event.id.description), at: 5)
            try insert.bind(.integer(availableAt), at: 6)
            try insert.bind(.integer(event.receivedAt), at: 7)
            while try insert.step() {}
        }
    }
}
