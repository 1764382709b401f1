@_spi(StoreImplementation) public import Stepwise
import PostgresNIO

/// Functions, their triggers and schedules, and the runs they start: kept and inserted here,
/// decided by the engine (``TriggerIndex``, ``NewRun``, ``ScheduleFiring``).
extension PostgresStore {
    public func register(_ registration: FunctionRegistration) async throws {
        try await transaction { transaction in
            let environment = registration.environment
            let app = registration.appID
            // Registrations of one app are applied whole, one after the other: the second
            // waits here for the first to commit.
            try await transaction.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(\(environment + "\u{1F}" + app), 1))")
            // Appends that fanned out with the triggers as they were see the version move on,
            // and read them again.
            try await transaction.execute(
                """
                INSERT INTO registry_versions (environment, version) VALUES (\(environment), 1)
                ON CONFLICT (environment) DO UPDATE SET version = registry_versions.version + 1
                """)
            if registration.isCompleteSet {
                try await transaction.execute(
                    """
                    DELETE FROM functions WHERE environment = \(environment) AND app_id = \(app)
                      AND NOT (function_id = ANY(\(registration.functions.map(\.id))::text[]))
                    """)
            }
            for function in registration.functions {
                let id = function.id
                try await transaction.execute(
                    """
                    INSERT INTO functions (environment, app_id, function_id, registered_at, settings)
                    VALUES (\(environment), \(app), \(id), \(registration.now), \(function.settings.json.serialized))
                    ON CONFLICT (environment, app_id, function_id)
                        DO UPDATE SET registered_at = excluded.registered_at, settings = excluded.settings
                    """)
                try await transaction.execute(
                    "DELETE FROM function_triggers WHERE environment = \(environment) AND app_id = \(app) AND function_id = \(id)")
                // Schedules kept unchanged keep their next tick; new ones start from the first.
                let expressions = function.schedules.map(\.expression)
                let zones = function.schedules.map(\.timeZone)
                try await transaction.execute(
                    """
                    DELETE FROM cron_schedules s WHERE environment = \(environment) AND app_id = \(app) AND function_id = \(id)
                      AND NOT EXISTS (SELECT 1 FROM unnest(\(expressions)::text[], \(zones)::text[]) AS k (expression, time_zone)
                                      WHERE k.expression = s.expression AND k.time_zone = s.time_zone)
                    """)
                if !function.schedules.isEmpty {
                    try await transaction.execute(
                        """
                        INSERT INTO cron_schedules (environment, app_id, function_id, expression, time_zone, next_at)
                        SELECT \(environment), \(app), \(id), expression, time_zone, next_at
                        FROM unnest(\(expressions)::text[], \(zones)::text[], \(function.schedules.map(\.firstTickAt))::bigint[])
                            AS k (expression, time_zone, next_at)
                        ON CONFLICT DO NOTHING
                        """)
                }
                if !function.triggers.isEmpty {
                    try await transaction.execute(
                        """
                        INSERT INTO function_triggers (environment, app_id, function_id, pattern, is_prefix, conditions)
                        SELECT \(environment), \(app), \(id), pattern, is_prefix, conditions
                        FROM unnest(\(function.triggers.map(\.pattern.text))::text[], \(function.triggers.map(\.pattern.isPrefix))::boolean[],
                                    \(NullableTextArray(function.triggers.map { $0.storedConditions?.serialized }))::text[])
                            WITH ORDINALITY AS t (pattern, is_prefix, conditions, position)
                        ORDER BY position
                        """)
                }
            }
        }
        triggerCache.withLock { _ = $0.removeValue(forKey: registration.environment) }
    }

    public func functions(environment: String) async throws -> [FunctionRecord] {
        try await read { transaction in
            var schedules: [String: [FunctionRecord.Schedule]] = [:]
            for row in try await transaction.rows(
                """
                SELECT app_id, function_id, expression, time_zone, next_at FROM cron_schedules WHERE environment = \(environment)
                ORDER BY app_id, function_id, expression, time_zone
                """)
            {
                let key = (try row.text(0) ?? "") + "\u{1F}" + (try row.text(1) ?? "")
                let nextAt = try row.integer(4)
                schedules[key, default: []].append(FunctionRecord.Schedule(
                    expression: try row.text(2) ?? "", timeZone: try row.text(3) ?? "UTC", nextAt: nextAt == Int64.max ? nil : nextAt))
            }
            var triggers: [String: [EventPattern]] = [:]
            for row in try await transaction.rows(
                "SELECT app_id, function_id, pattern, is_prefix FROM function_triggers WHERE environment = \(environment) ORDER BY seq")
            {
                let key = (try row.text(0) ?? "") + "\u{1F}" + (try row.text(1) ?? "")
                let pattern = try row.text(2) ?? ""
                let isPrefix = try row[3].decode(Bool.self)
                triggers[key, default: []].append(EventPattern(isPrefix ? pattern + "*" : pattern))
            }
            return try await transaction.rows(
                """
                SELECT app_id, function_id, settings, registered_at FROM functions WHERE environment = \(environment)
                ORDER BY app_id, function_id
                """
            ).map { row in
                let app = try row.text(0) ?? ""
                let id = try row.text(1) ?? ""
                let key = app + "\u{1F}" + id
                return FunctionRecord(
                    environment: environment, appID: app, id: id, triggers: triggers[key] ?? [], schedules: schedules[key] ?? [],
                    settings: Self.settings(try row.text(2)), registeredAt: try row.integer(3))
            }
        }
    }

    /// The engine's index of the event triggers of `environment`, with their functions'
    /// settings, read in the transaction that uses it.
    func triggerIndex(environment: String, in transaction: PostgresTransaction) async throws -> TriggerIndex {
        var triggers: [RegisteredTrigger] = []
        for row in try await transaction.rows(
            """
            SELECT t.app_id, t.function_id, t.pattern, t.is_prefix, t.conditions, f.settings
            FROM function_triggers t
            JOIN functions f ON f.environment = t.environment AND f.app_id = t.app_id AND f.function_id = t.function_id
            WHERE t.environment = \(environment)
            ORDER BY t.app_id, t.function_id, t.seq
            """)
        {
            let pattern = try row.text(2) ?? ""
            let trigger: TriggerRegistration
            do {
                let conditions = try row.text(4).map { try JSON(parsing: $0) }
                trigger = try TriggerRegistration(
                    pattern: EventPattern(try row[3].decode(Bool.self) ? pattern + "*" : pattern), storedConditions: conditions)
            } catch {
                throw PostgresStoreError.corruptRow(table: "function_triggers", reason: "\(error)")
            }
            triggers.append(RegisteredTrigger(
                appID: try row.text(0) ?? "", functionID: try row.text(1) ?? "", trigger: trigger, settings: Self.settings(try row.text(5))))
        }
        return TriggerIndex(triggers)
    }

    /// Inserts runs with their waits, each started by its events (one, or a batch's in
    /// order; never none); a run that is no rerun is inserted only if its function has none
    /// for its first event yet (a retried append), which the unique index decides, also
    /// between concurrent transactions.
    ///
    /// - Returns: the ids of the runs inserted.
    @discardableResult
    func insertRuns(_ runs: [(run: NewRun, eventIDs: [EventID])], environment: String, in transaction: PostgresTransaction)
        async throws -> Set<RunID>
    {
        guard !runs.isEmpty else { return [] }
        for (run, eventIDs) in runs where eventIDs.isEmpty {
            throw PostgresStoreError.invalidCheckpoint(reason: "run \(run.id) must be started by at least one event")
        }
        guard !runs.contains(where: { !$0.run.flow.isEmpty }) else {
            // In order, one at a time: each may count towards the next one's rate limit or
            // throttle.
            var inserted: Set<RunID> = []
            for (run, eventIDs) in runs {
                let done = run.flow.isEmpty
                    ? !(try await insertRuns([(run, eventIDs)], environment: environment, in: transaction)).isEmpty
                    : try await insertFlowControlledRun(run, environment: environment, eventIDs: eventIDs, in: transaction)
                if done { inserted.insert(run.id) }
            }
            return inserted
        }
        let rows = try await transaction.rows(
            """
            INSERT INTO runs (id, environment, app_id, function_id, event_id, status, available_at, created_at, rerun_of, event_count)
            SELECT id, \(environment), app_id, function_id, event_id, 'queued', available_at, created_at, rerun_of, event_count
            FROM unnest(\(runs.map(\.run.id.description))::text[], \(runs.map(\.run.appID))::text[], \(runs.map(\.run.functionID))::text[],
                        \(runs.map { $0.eventIDs.first?.description ?? "" })::text[], \(runs.map(\.run.availableAt))::bigint[],
                        \(runs.map(\.run.createdAt))::bigint[], \(NullableTextArray(runs.map { $0.run.rerunOf?.description }))::text[],
                        \(runs.map { Int64($0.eventIDs.count) })::bigint[])
                WITH ORDINALITY AS r (id, app_id, function_id, event_id, available_at, created_at, rerun_of, event_count, position)
            ORDER BY position
            ON CONFLICT DO NOTHING
            RETURNING id
            """)
        let inserted = Set(try rows.compactMap { try $0.text(0).flatMap(RunID.init) })
        let kept = runs.filter { inserted.contains($0.run.id) }
        let batches = kept.filter { $0.eventIDs.count > 1 }
        if !batches.isEmpty {
            var runIDs: [String] = [], positions: [Int64] = [], eventIDs: [String] = []
            for (run, ids) in batches {
                for (position, id) in ids.enumerated() {
                    runIDs.append(run.id.description)
                    positions.append(Int64(position))
                    eventIDs.append(id.description)
                }
            }
            try await transaction.execute(
                """
                INSERT INTO run_events (run_id, position, event_id)
                SELECT * FROM unnest(\(runIDs)::text[], \(positions)::integer[], \(eventIDs)::text[])
                """)
        }
        try await insertWaits(kept.flatMap { run in run.run.waits.map { (run.run.id, $0) } }, environment: environment, in: transaction)
        return inserted
    }

    /// Inserts waits; a run's second wait for one step and event name replaces its deadline.
    func insertWaits(_ waits: [(runID: RunID, wait: RunWait)], environment: String, in transaction: PostgresTransaction) async throws {
        guard !waits.isEmpty else { return }
        try await transaction.execute(
            """
            INSERT INTO run_waits (environment, run_id, kind, step_key, event_name, match_path, match_value, condition, expires_at)
            SELECT \(environment), run_id, kind, step_key, event_name, match_path, match_value, condition, expires_at
            FROM unnest(\(waits.map(\.runID.description))::text[], \(waits.map(\.wait.kind.rawValue))::text[],
                        \(waits.map(\.wait.stepKey))::text[], \(waits.map(\.wait.eventName))::text[], \(NullableTextArray(waits.map(\.wait.matchPath)))::text[],
                        \(NullableTextArray(waits.map { $0.wait.matchValue?.serialized }))::text[], \(NullableTextArray(waits.map { $0.wait.condition?.description }))::text[],
                        \(waits.map(\.wait.expiresAt))::bigint[])
                WITH ORDINALITY AS w (run_id, kind, step_key, event_name, match_path, match_value, condition, expires_at, position)
            ORDER BY position
            ON CONFLICT (run_id, step_key, event_name) DO UPDATE SET expires_at = excluded.expires_at
            """)
    }

    public func dueSchedules(environment: String, appID: String, functionIDs: [String], now: Int64) async throws -> [ScheduleRecord] {
        guard !functionIDs.isEmpty else { return [] }
        return try await read { transaction in
            try await transaction.rows(
                """
                SELECT function_id, expression, time_zone, next_at FROM cron_schedules
                WHERE environment = \(environment) AND app_id = \(appID) AND next_at <= \(now) AND function_id = ANY(\(functionIDs)::text[])
                ORDER BY function_id, expression, time_zone
                """
            ).map { row in
                ScheduleRecord(
                    appID: appID, functionID: try row.text(0) ?? "", expression: try row.text(1) ?? "", timeZone: try row.text(2) ?? "UTC",
                    nextAt: try row.integer(3))
            }
        }
    }

    public func fire(_ firings: [ScheduleFiring], environment: String, afterCommit: (@Sendable ([StoredEvent]) -> Void)?) async throws -> Int {
        guard !firings.isEmpty else { return 0 }
        let result = try await transaction { transaction in
            var fired = 0
            var stored: [StoredEvent] = []
            for firing in firings {
                let schedule = firing.schedule
                // Whoever moves the schedule on from this tick fires it: a second worker's
                // UPDATE waits for the first's commit, re-reads the row, and matches nothing.
                let moved = try await transaction.execute(
                    """
                    UPDATE cron_schedules SET next_at = \(firing.nextAt)
                    WHERE environment = \(environment) AND app_id = \(schedule.appID) AND function_id = \(schedule.functionID)
                      AND expression = \(schedule.expression) AND time_zone = \(schedule.timeZone) AND next_at = \(schedule.nextAt)
                    """)
                guard moved == 1 else { continue }
                let appended = try await appendEvents(
                    EventBatch(environment: environment, events: [firing.event], receivedAt: firing.run.createdAt, dedupeWindow: 0),
                    in: transaction, stored: &stored)
                guard case .accepted(let event)? = appended.first else { continue }
                try await insertRuns([(firing.run, [event.id])], environment: environment, in: transaction)
                fired += appended.count
            }
            return (stored: stored, count: fired)
        }
        Self.publish(result.stored, to: afterCommit)
        if result.count > 0 { notifier.mark(environment) }
        return result.count
    }
}
