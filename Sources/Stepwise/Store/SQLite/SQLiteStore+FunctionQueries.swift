extension SQLiteStore {
    public func functions(environment: String) async throws -> [FunctionRecord] {
        try await read { connection in
            struct Entry {
                var registeredAt: Int64
                var settings: FunctionSettings
                var triggers: [EventPattern] = []
                var schedules: [FunctionRecord.Schedule] = []
            }
            struct Key: Hashable {
                let app: String
                let function: String
            }
            var order: [Key] = []
            var entries: [Key: Entry] = [:]
            try connection.query(
                "SELECT app_id, function_id, registered_at, settings FROM functions WHERE environment = ? ORDER BY app_id, function_id",
                [.text(environment)]
            ) { row in
                let key = Key(app: row.text(0) ?? "", function: row.text(1) ?? "")
                order.append(key)
                entries[key] = Entry(registeredAt: row.integer(2), settings: Self.settings(row.text(3)))
            }
            try connection.query(
                "SELECT app_id, function_id, pattern, is_prefix FROM function_triggers WHERE environment = ? ORDER BY rowid",
                [.text(environment)]
            ) { row in
                let key = Key(app: row.text(0) ?? "", function: row.text(1) ?? "")
                let pattern = row.text(2) ?? ""
                entries[key]?.triggers.append(EventPattern(row.integer(3) == 1 ? pattern + "*" : pattern))
            }
            try connection.query(
                "SELECT app_id, function_id, expression, time_zone, next_at FROM cron_schedules WHERE environment = ? ORDER BY expression",
                [.text(environment)]
            ) { row in
                let key = Key(app: row.text(0) ?? "", function: row.text(1) ?? "")
                // A schedule with no tick left is stored with the largest time.
                let next = row.integer(4)
                entries[key]?.schedules.append(FunctionRecord.Schedule(
                    expression: row.text(2) ?? "", timeZone: row.text(3) ?? "", nextAt: next == Int64.max ? nil : next))
            }
            return order.compactMap { key in
                entries[key].map { entry in
                    FunctionRecord(
                        environment: environment, appID: key.app, id: key.function, triggers: entry.triggers,
                        schedules: entry.schedules, settings: entry.settings, registeredAt: entry.registeredAt)
                }
            }
        }
    }
}
