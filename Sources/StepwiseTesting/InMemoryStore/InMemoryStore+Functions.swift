@_spi(StoreImplementation) public import Stepwise

/// Functions, their triggers and schedules, and the runs they start: kept and inserted here,
/// decided by the engine (``TriggerIndex``, ``NewRun``, ``ScheduleFiring``).
extension InMemoryStore {
    /// Stores the app's functions, each replacing the one of its id; a complete set removes
    /// the app's others. A schedule the function had keeps its next tick.
    public func register(_ registration: FunctionRegistration) async throws {
        try write { transaction in transaction.register(registration) }
    }

    /// The functions of `environment`, by app and id in byte order (as SQLite sorts them),
    /// each with its triggers in the order registered and its schedules by expression.
    public func functions(environment: String) async throws -> [FunctionRecord] {
        let environment = ExactText(environment)
        return tables.functions
            .filter { $0.key.app.environment == environment }
            .sorted { ($0.key.app.appID, $0.key.functionID) < ($1.key.app.appID, $1.key.functionID) }
            .map { key, row in
                FunctionRecord(
                    environment: key.app.environment.string, appID: row.appID, id: row.functionID, triggers: row.triggers.map(\.pattern),
                    schedules: row.schedules
                        .sorted { (ExactText($0.expression), ExactText($0.timeZone)) < (ExactText($1.expression), ExactText($1.timeZone)) }
                        .map { FunctionRecord.Schedule(expression: $0.expression, timeZone: $0.timeZone, nextAt: $0.nextAt == Int64.max ? nil : $0.nextAt) },
                    settings: row.settings, registeredAt: row.registeredAt)
            }
    }

    /// The schedules of these functions whose next tick has come.
    public func dueSchedules(environment: String, appID: String, functionIDs: [String], now: Int64) async throws -> [ScheduleRecord] {
        functionRows(AppKey(environment, appID), functionIDs).flatMap { row in
            row.schedules.filter { $0.nextAt <= now }.map { schedule in
                ScheduleRecord(
                    appID: row.appID, functionID: row.functionID, expression: schedule.expression, timeZone: schedule.timeZone,
                    nextAt: schedule.nextAt)
            }
        }
    }

    /// Fires each tick whose schedule is still at it (compare and set), with its event and its
    /// run, in one transaction; a tick another worker fired already is skipped.
    public func fire(_ firings: [ScheduleFiring], environment: String, afterCommit: (@Sendable ([StoredEvent]) -> Void)?) async throws -> Int {
        guard !firings.isEmpty else { return 0 }
        var stored: [StoredEvent] = []
        let fired = try write { transaction in
            var fired = 0
            for firing in firings where transaction.moveSchedule(firing, environment: environment) {
                let appended = try transaction.appendEvents(
                    EventBatch(environment: environment, events: [firing.event], receivedAt: firing.run.createdAt, dedupeWindow: 0),
                    stored: &stored)
                guard case .accepted(let event)? = appended.first else { continue }
                transaction.insertRun(firing.run, environment: environment, eventIDs: [event.id])
                fired += appended.count
            }
            return fired
        }
        Self.publish(stored, to: afterCommit)
        return fired
    }

    /// The registered functions of `app` among `functionIDs`, in byte order of their ids.
    func functionRows(_ app: AppKey, _ functionIDs: [String]) -> [FunctionRow] {
        Set(functionIDs.map(ExactText.init)).sorted().compactMap { id in
            tables.functions[FunctionKey(app.environment.string, app.appID.string, id.string)]
        }
    }
}

extension InMemoryStore.Transaction {
    /// Applies a registration, one function after the other.
    mutating func register(_ registration: FunctionRegistration) {
        let app = InMemoryStore.AppKey(registration.environment, registration.appID)
        if registration.isCompleteSet {
            let kept = Set(registration.functions.map { ExactText($0.id) })
            let removed = tables.functions.keys.filter { $0.app == app && !kept.contains($0.functionID) }
            for key in removed {
                set(\.functions, key, to: nil)
            }
        }
        for function in registration.functions {
            let key = InMemoryStore.FunctionKey(registration.environment, registration.appID, function.id)
            let previous = tables.functions[key]?.schedules ?? []
            // Schedules kept unchanged keep their next tick; new ones start from the first.
            var schedules: [InMemoryStore.ScheduleRow] = []
            for schedule in function.schedules where !schedules.contains(where: { $0.isSame(expression: schedule.expression, timeZone: schedule.timeZone) }) {
                let kept = previous.first { $0.isSame(expression: schedule.expression, timeZone: schedule.timeZone) }
                schedules.append(kept ?? InMemoryStore.ScheduleRow(
                    expression: schedule.expression, timeZone: schedule.timeZone, nextAt: schedule.firstTickAt))
            }
            set(\.functions, key, to: InMemoryStore.FunctionRow(
                appID: registration.appID, functionID: function.id, registeredAt: registration.now, settings: function.settings,
                triggers: function.triggers, schedules: schedules))
        }
    }

    /// The engine's index of the event triggers of `environment`, with their functions'
    /// settings: built once per appended batch, from the functions in byte order of app and id.
    func triggerIndex(environment: ExactText) -> TriggerIndex {
        let triggers = tables.functions
            .filter { $0.key.app.environment == environment }
            .sorted { ($0.key.app.appID, $0.key.functionID) < ($1.key.app.appID, $1.key.functionID) }
            .flatMap { _, row in
                row.triggers.map { RegisteredTrigger(appID: row.appID, functionID: row.functionID, trigger: $0, settings: row.settings) }
            }
        return TriggerIndex(triggers)
    }

    /// Creates one run of every function the engine says `event` triggers (fan-out), in the
    /// transaction that stores the event.
    mutating func createRuns(for event: StoredEvent, triggers: TriggerIndex) {
        for target in triggers.targets(for: event) {
            switch NewRun.admitted(id: RunID(generator.next(milliseconds: event.receivedAt)), target: target, by: event) {
            case .run(let run): insertRun(run, environment: event.environment, eventIDs: [event.id])
            case .refused(let record): recordAdmission(record, environment: event.environment)
            }
        }
    }

    /// Inserts `run`, started by the events `eventIDs` (one, or a batch's in order; never
    /// none), with its waits; a run that is no rerun is inserted only if its function has none
    /// for the first event yet (a retried append).
    ///
    /// - Returns: whether the run was inserted; `false`, as in SQLite's `INSERT OR IGNORE`,
    ///   also when its id is taken, which a ``ULIDGenerator`` never makes.
    @discardableResult
    mutating func insertRun(_ run: NewRun, environment: String, eventIDs: [EventID]) -> Bool {
        guard tables.runs[run.id] == nil, let eventID = eventIDs.first else { return false }
        let function = InMemoryStore.FunctionKey(environment, run.appID, run.functionID)
        if run.rerunOf == nil {
            let key = InMemoryStore.TriggeredRunKey(function: function, eventID: eventID)
            guard tables.triggeredRuns[key] == nil else { return false }
            set(\.triggeredRuns, key, to: run.id)
        }
        if let limit = run.flow.rateLimit {
            let key = InMemoryStore.RateKey(function: function, key: ExactText(limit.key))
            let windowStart = run.createdAt - limit.periodMilliseconds
            let admitted = (tables.runsByRateKey[key] ?? []).count { tables.runs[$0].map { $0.createdAt > windowStart } ?? false }
            guard admitted < limit.limit else {
                recordAdmission(AdmissionRecord.turnedAway(eventID: eventID, run: run, by: limit), environment: environment)
                return false
            }
            insert(run.id, into: \.runsByRateKey, at: key)
        }
        var run = run
        if let throttle = run.flow.throttle {
            let key = ExactText(throttle.identity)
            let reserved = ThrottleSchedule.reserve(tat: tables.throttles[key], due: run.availableAt, throttle: throttle)
            set(\.throttles, key, to: reserved.tat)
            run = run.starting(at: reserved.start)
        }
        putRun(InMemoryStore.RunRow(
            id: run.id, environment: environment, appID: run.appID, functionID: run.functionID, eventIDs: eventIDs, status: .queued,
            attempt: 0, output: nil, error: nil, createdAt: run.createdAt, startedAt: nil, endedAt: nil, availableAt: run.availableAt,
            rerunOf: run.rerunOf, leaseToken: 0, sequence: nextSequence(), flow: run.flow, parkedOn: nil, parkedDue: nil))
        for wait in run.waits {
            insertWait(wait, runID: run.id, environment: environment)
        }
        return true
    }

    /// Moves a firing's schedule on to its next tick if it is still at the tick fired.
    ///
    /// - Returns: whether it moved, that is whether this firing fires the tick.
    mutating func moveSchedule(_ firing: ScheduleFiring, environment: String) -> Bool {
        let schedule = firing.schedule
        let key = InMemoryStore.FunctionKey(environment, schedule.appID, schedule.functionID)
        guard var row = tables.functions[key],
              let index = row.schedules.firstIndex(where: {
                  $0.isSame(expression: schedule.expression, timeZone: schedule.timeZone) && $0.nextAt == schedule.nextAt
              })
        else { return false }
        row.schedules[index].nextAt = firing.nextAt
        set(\.functions, key, to: row)
        return true
    }
}
