/// A run for a store to insert, decided by the engine: its id, when it becomes due, and the
/// waits through which its function's `cancelOn` events cancel it.
///
/// A store inserts it with the events it was triggered by (``Store`` says which, per
/// requirement), in the transaction that decides it; it never works out any of this itself.
public struct NewRun: Sendable, Hashable {
    public let id: RunID
    public let appID: String
    public let functionID: String
    /// When it may first be claimed, in milliseconds since the epoch: an event whose `ts` lies
    /// in the future starts its runs at that time.
    public let availableAt: Int64
    public let createdAt: Int64
    /// The run it reruns, or `nil` for a run its event started. A store keeps one run per
    /// function per event for runs that are no rerun (a retried append must not start a
    /// second), and any number of reruns.
    public let rerunOf: RunID?
    /// The waits that cancel it (``RunWait/Kind/cancel``), to insert with it.
    public let waits: [RunWait]
    /// Its flow-control keys, to insert with it: a store checks ``RunFlow/rateLimit`` and
    /// reserves the start of ``RunFlow/throttle`` as it inserts the run (see ``Store``).
    public let flow: RunFlow

    public init(
        id: RunID, appID: String, functionID: String, availableAt: Int64, createdAt: Int64, rerunOf: RunID? = nil, waits: [RunWait] = [],
        flow: RunFlow = RunFlow()
    ) {
        self.id = id
        self.appID = appID
        self.functionID = functionID
        self.availableAt = availableAt
        self.createdAt = createdAt
        self.rerunOf = rerunOf
        self.waits = waits
        self.flow = flow
    }

    /// The run due no earlier than `start`: its throttled start, reserved by the store.
    @_spi(StoreImplementation)
    public func starting(at start: Int64) -> NewRun {
        guard start > availableAt else { return self }
        return NewRun(
            id: id, appID: appID, functionID: functionID, availableAt: start, createdAt: createdAt, rerunOf: rerunOf, waits: waits, flow: flow)
    }

    /// The run `event` starts of the function `target` names (fan-out, a schedule's tick, an
    /// invoke).
    @_spi(StoreImplementation)
    public static func triggered(id: RunID, appID: String, functionID: String, settings: FunctionSettings, by event: StoredEvent) -> NewRun {
        triggered(id: id, appID: appID, functionID: functionID, settings: settings, by: TriggeringEvent(event))
    }

    /// What fan-out makes of `event` for the function `target` names: its run, or the record
    /// of why it starts none (the trigger's `if` did not hold, or an expression of the
    /// function could not be evaluated for the event). The store still checks the rate limit
    /// the run carries (``RunFlow/rateLimit``) against the runs it holds.
    @_spi(StoreImplementation)
    public static func admitted(id: RunID, target: RegisteredTrigger, by event: StoredEvent) -> RunAdmission {
        let triggering = TriggeringEvent(event)
        func refused(_ reason: AdmissionReason, _ detail: String) -> RunAdmission {
            .refused(AdmissionRecord(
                eventID: event.id, appID: target.appID, functionID: target.functionID, reason: reason, detail: detail,
                decidedAt: event.receivedAt))
        }
        let settings = target.settings
        if let condition = target.trigger.condition {
            do {
                guard try condition.evaluateBoolean(event: triggering.envelope) else {
                    return refused(.filtered, "the trigger's if (\(condition.text)) did not hold for the event")
                }
            } catch {
                return refused(.evaluationFailed, "\(error)")
            }
        }
        guard settings.hasFlowControl else {
            return .run(triggered(id: id, appID: target.appID, functionID: target.functionID, settings: settings, by: triggering))
        }
        do {
            let flow = try RunFlow.admitting(
                settings: settings, environment: event.environment, appID: target.appID, functionID: target.functionID,
                envelope: triggering.envelope)
            return .run(triggered(id: id, appID: target.appID, functionID: target.functionID, settings: settings, by: triggering, flow: flow))
        } catch {
            return refused(.evaluationFailed, "\(error)")
        }
    }

    /// The run an event not stored yet will start, once appended in the same transaction at
    /// `receivedAt` (an invoke's `stepwise/function.invoked`, a schedule's tick).
    @_spi(StoreImplementation)
    public static func triggered(
        id: RunID, appID: String, functionID: String, settings: FunctionSettings, by event: NewEvent, environment: String, receivedAt: Int64
    ) -> NewRun {
        triggered(id: id, appID: appID, functionID: functionID, settings: settings,
                  by: TriggeringEvent(
                    id: nil, environment: environment, name: event.name, data: event.data, user: event.user, ts: event.ts,
                    receivedAt: receivedAt))
    }

    /// A second run of `run`'s function on `run`'s event, due at `now`. Its cancellations
    /// listen from the event's receipt, as the first run's did.
    @_spi(StoreImplementation)
    public static func rerun(id: RunID, of run: RunRecord, settings: FunctionSettings, event: StoredEvent, now: Int64) -> NewRun {
        let waits = cancellations(settings, for: id, by: TriggeringEvent(event))
        // A rerun counts towards the concurrency of the run it repeats, with its priority,
        // and is neither throttled nor rate limited: someone asked for it.
        var flow = run.flow
        flow.throttle = nil
        flow.rateLimit = nil
        flow.debounce = nil
        flow.batch = nil
        flow.singleton = nil
        return NewRun(
            id: id, appID: run.appID, functionID: run.functionID, availableAt: now, createdAt: now, rerunOf: run.id, waits: waits, flow: flow)
    }

    private struct TriggeringEvent {
        /// `nil` for an event not stored yet, whose `event.id` then reads as `null`.
        let id: String?
        let environment: String
        let name: String
        let data: JSON
        let user: JSON?
        let ts: Int64
        let receivedAt: Int64

        init(id: String?, environment: String, name: String, data: JSON, user: JSON?, ts: Int64, receivedAt: Int64) {
            self.id = id
            self.environment = environment
            self.name = name
            self.data = data
            self.user = user
            self.ts = ts
            self.receivedAt = receivedAt
        }

        init(_ event: StoredEvent) {
            self.init(
                id: event.id.description, environment: event.environment, name: event.name, data: event.data, user: event.user, ts: event.ts,
                receivedAt: event.receivedAt)
        }

        var envelope: JSON { EventExpression.envelope(id: id, name: name, data: data, user: user, ts: ts) }
    }

    /// A run `event` starts; its flow keys are worked out here unless given (fan-out's
    /// admission did), without a rate limit: an invoke or a schedule's tick is no event to
    /// turn away.
    private static func triggered(
        id: RunID, appID: String, functionID: String, settings: FunctionSettings, by event: TriggeringEvent, flow: RunFlow? = nil
    ) -> NewRun {
        let flow = flow ?? (settings.hasFlowControl
            ? RunFlow.dispatching(
                settings: settings, environment: event.environment, appID: appID, functionID: functionID, envelope: event.envelope)
            : RunFlow())
        return NewRun(
            id: id, appID: appID, functionID: functionID, availableAt: max(event.receivedAt, event.ts), createdAt: event.receivedAt,
            waits: cancellations(settings, for: id, by: event), flow: flow)
    }

    /// The waits through which the events of `settings.cancelOn` cancel the run: matched like
    /// a step's wait, by index, when such an event is stored; only events received after the
    /// run was created, and within the cancellation's timeout, count.
    private static func cancellations(_ settings: FunctionSettings, for runID: RunID, by event: TriggeringEvent) -> [RunWait] {
        guard !settings.cancelOn.isEmpty else { return [] }
        let envelope = event.envelope
        return settings.cancelOn.enumerated().map { index, cancelOn in
            RunWait(
                kind: .cancel, stepKey: "cancelOn:\(index)", eventName: cancelOn.eventName, matchPath: cancelOn.match,
                matchValue: cancelOn.match.map { envelope.value(atPath: $0) ?? .null },
                // createFunction refuses a condition that does not parse.
                condition: cancelOn.condition.flatMap { try? EventCondition($0).binding(event: envelope) },
                expiresAt: cancelOn.timeout.map { event.receivedAt + $0.milliseconds } ?? Int64.max)
        }
    }
}

/// What fan-out makes of an event for one function.
@_spi(StoreImplementation)
public enum RunAdmission: Sendable {
    /// A run to insert (the store still checks its rate limit).
    case run(NewRun)
    /// No run; the record to keep of why.
    case refused(AdmissionRecord)
}
