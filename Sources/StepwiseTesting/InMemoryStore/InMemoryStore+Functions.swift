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
    mutating func createRuns(for event: StoredEvent, triggers: TriggerIndex, stored: inout [StoredEvent]) throws {
        for target in triggers.targets(for: event) {
            switch NewRun.admitted(id: RunID(generator.next(milliseconds: event.receivedAt)), target: target, by: event) {
            case .run(let run) where run.flow.batch != nil || run.flow.debounce != nil || run.flow.singleton != nil:
                try place(run, for: event, stored: &stored)
            case .run(let run): insertRun(run, environment: event.environment, eventIDs: [event.id])
            case .refused(let record): recordAdmission(record, environment: event.environment)
            }
        }
    }

    /// Places a fanned-out run that a batch, a debounce or a singleton may fold into another:
    /// into the open batch of its key, in place of the event a pending debounce holds, or not
    /// at all (or in place of the active run) beside a singleton.
    private mutating func place(_ run: NewRun, for event: StoredEvent, stored: inout [StoredEvent]) throws {
        let environment = event.environment
        let function = InMemoryStore.FunctionKey(environment, run.appID, run.functionID)
        let active = (tables.activeRuns[function.app] ?? []).compactMap { tables.runs[$0] }
            .filter { $0.function == function && $0.rerunOf == nil }.sorted { $0.sequence < $1.sequence }
        let pending = active.filter { $0.status == .queued && $0.startedAt == nil }
        if let batch = run.flow.batch {
            if let open = pending.first(where: { $0.flow.batch?.key == batch.key && $0.eventIDs.count < batch.maxSize }) {
                let position = open.eventIDs.count
                updateRun(open.id) { row in
                    row.eventIDs.append(event.id)
                    if row.eventIDs.count >= batch.maxSize { row.availableAt = min(row.availableAt ?? event.receivedAt, event.receivedAt) }
                }
                recordAdmission(.batched(eventID: event.id, run: run, into: open.id, position: position, of: batch.maxSize), environment: environment)
                return
            }
            insertRun(run.starting(at: run.createdAt + batch.timeoutMilliseconds), environment: environment, eventIDs: [event.id])
            return
        }
        guard admitsRate(run, eventID: event.id, environment: environment) else { return }
        if let debounce = run.flow.debounce {
            if let held = pending.first(where: { $0.flow.debounce?.key == debounce.key }) {
                guard debounce.eventTimestamp >= held.flow.debounce?.eventTimestamp ?? Int64.min else {
                    recordAdmission(.debounced(eventID: event.id, run: run, into: held.id, by: held.eventID, replaced: false), environment: environment)
                    return
                }
                recordAdmission(.debounced(eventID: held.eventID, run: run, into: held.id, by: event.id, replaced: true), environment: environment)
                set(\.triggeredRuns, InMemoryStore.TriggeredRunKey(function: function, eventID: held.eventID), to: nil)
                set(\.triggeredRuns, InMemoryStore.TriggeredRunKey(function: function, eventID: event.id), to: held.id)
                updateRun(held.id) { row in
                    row.eventIDs = [event.id]
                    row.flow = run.flow
                    row.availableAt = debounce.fireAt(firstAt: held.createdAt, now: event.receivedAt)
                }
                // Its cancellations listen for the new event's values.
                removeWaits(runID: held.id)
                for wait in run.waits { insertWait(wait, runID: held.id, environment: environment) }
                return
            }
            insertRun(run.starting(at: debounce.fireAt(firstAt: run.createdAt, now: run.createdAt)), environment: environment, eventIDs: [event.id])
            return
        }
        if let singleton = run.flow.singleton, let holder = active.first(where: { $0.flow.singleton?.key == singleton.key }) {
            switch singleton.mode {
            case .skip:
                recordAdmission(.singletonSkipped(eventID: event.id, run: run, active: holder.id, key: singleton.key), environment: environment)
                return
            case .cancel:
                try cancelRun(holder.id, because: event, reason: "singleton", stored: &stored)
            }
        }
        insertRun(run, environment: environment, eventIDs: [event.id])
    }

    /// Whether `run`'s rate limit admits it; when it does not, the refusal is recorded.
    mutating func admitsRate(_ run: NewRun, eventID: EventID, environment: String) -> Bool {
        guard let limit = run.flow.rateLimit else { return true }
        let key = InMemoryStore.RateKey(function: InMemoryStore.FunctionKey(environment, run.appID, run.functionID), key: ExactText(limit.key))
        let windowStart = run.createdAt - limit.periodMilliseconds
        let admitted = (tables.runsByRateKey[key] ?? []).count { tables.runs[$0].map { $0.createdAt > windowStart } ?? false }
        guard admitted < limit.limit else {
            recordAdmission(AdmissionRecord.turnedAway(eventID: eventID, run: run, by: limit), environment: environment)
            return false
        }
        return true
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
            guard admitsRate(run, eventID: eventID, environment: environment) else { return false }
            insert(run.id, into: \.runsByRateKey, at: InMemoryStore.RateKey(function: function, key: ExactText(limit.key)))
        }
        var run = run
        if let throttle = run.flow.throttle {
            let key = ExactText(throttle.identity)
            let placed = ThrottleSchedule.place(run, tat: tables.throttles[key])
            if let tat = placed.tat { set(\.throttles, key, to: tat) }
            run = placed.run
        }
        // A key whose turn is taken (or with runs parked ahead) keeps the run parked, in line.
        let waitsTurnOn = keyWithoutTurn(of: run.flow)
        putRun(InMemoryStore.RunRow(
            id: run.id, environment: environment, appID: run.appID, functionID: run.functionID, eventIDs: eventIDs, status: .queued,
            attempt: 0, output: nil, error: nil, createdAt: run.createdAt, startedAt: nil, endedAt: nil,
            availableAt: waitsTurnOn == nil ? run.availableAt : nil, rerunOf: run.rerunOf, leaseToken: 0, sequence: nextSequence(),
            flow: run.flow, parkedOn: waitsTurnOn?.identity, parkedDue: waitsTurnOn == nil ? nil : run.availableAt))
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
