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

    public init(id: RunID, appID: String, functionID: String, availableAt: Int64, createdAt: Int64, rerunOf: RunID? = nil, waits: [RunWait] = []) {
        self.id = id
        self.appID = appID
        self.functionID = functionID
        self.availableAt = availableAt
        self.createdAt = createdAt
        self.rerunOf = rerunOf
        self.waits = waits
    }

    /// The run `event` starts of the function `target` names (fan-out, a schedule's tick, an
    /// invoke).
    @_spi(StoreImplementation)
    public static func triggered(id: RunID, appID: String, functionID: String, settings: FunctionSettings, by event: StoredEvent) -> NewRun {
        triggered(id: id, appID: appID, functionID: functionID, settings: settings,
                  by: TriggeringEvent(
                    id: event.id.description, name: event.name, data: event.data, user: event.user, ts: event.ts, receivedAt: event.receivedAt))
    }

    /// The run an event not stored yet will start, once appended in the same transaction at
    /// `receivedAt` (an invoke's `stepwise/function.invoked`, a schedule's tick).
    @_spi(StoreImplementation)
    public static func triggered(
        id: RunID, appID: String, functionID: String, settings: FunctionSettings, by event: NewEvent, receivedAt: Int64
    ) -> NewRun {
        triggered(id: id, appID: appID, functionID: functionID, settings: settings,
                  by: TriggeringEvent(id: nil, name: event.name, data: event.data, user: event.user, ts: event.ts, receivedAt: receivedAt))
    }

    /// A second run of `run`'s function on `run`'s event, due at `now`. Its cancellations
    /// listen from the event's receipt, as the first run's did.
    @_spi(StoreImplementation)
    public static func rerun(id: RunID, of run: RunRecord, settings: FunctionSettings, event: StoredEvent, now: Int64) -> NewRun {
        let waits = cancellations(settings, for: id, by: TriggeringEvent(
            id: event.id.description, name: event.name, data: event.data, user: event.user, ts: event.ts, receivedAt: event.receivedAt))
        return NewRun(id: id, appID: run.appID, functionID: run.functionID, availableAt: now, createdAt: now, rerunOf: run.id, waits: waits)
    }

    private struct TriggeringEvent {
        /// `nil` for an event not stored yet, whose `event.id` then reads as `null`.
        let id: String?
        let name: String
        let data: JSON
        let user: JSON?
        let ts: Int64
        let receivedAt: Int64

        var envelope: JSON { EventExpression.envelope(id: id, name: name, data: data, user: user, ts: ts) }
    }

    private static func triggered(id: RunID, appID: String, functionID: String, settings: FunctionSettings, by event: TriggeringEvent) -> NewRun {
        NewRun(
            id: id, appID: appID, functionID: functionID, availableAt: max(event.receivedAt, event.ts), createdAt: event.receivedAt,
            waits: cancellations(settings, for: id, by: event))
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
