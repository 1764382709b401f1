import OrderedCollections

/// The names of the events Stepwise emits itself, under the reserved `stepwise/` prefix.
///
/// Functions may be triggered by them like any event. A run is never created from a system
/// event about the same function, so a function listening to `stepwise/*` cannot trigger
/// itself forever.
public enum SystemEvent {
    /// A run completed; `data` holds `function_id`, `app_id`, `run_id`, `output` and `event`.
    public static let functionFinished = "stepwise/function.finished"
    /// A run failed for good; `data` holds `function_id`, `app_id`, `run_id`, `error`
    /// (`name`, `message`) and `event`.
    public static let functionFailed = "stepwise/function.failed"
    /// A run was cancelled.
    public static let functionCancelled = "stepwise/function.cancelled"
    /// A function was invoked by another.
    public static let functionInvoked = "stepwise/function.invoked"
    /// A scheduled (cron) function's tick; `data` holds `function_id`, `app_id`, `cron`,
    /// `time_zone` and `scheduled_at`.
    public static let scheduledTimer = "stepwise/scheduled.timer"

    /// The prefix of every system event's name.
    public static let reservedPrefix = "stepwise/"

    /// The `event` member of a system event's data: the triggering event.
    ///
    /// The summary sits two levels down in the system event's data, so a payload nested
    /// within two levels of the most a system event may hold is left out (`data` is then
    /// `{}`, and `omitted` lists what was left out): the system event stays readable, and
    /// the event itself is still there to look up by its id. Payloads sent by users are
    /// far from that (``JSON/maximumPayloadNestingDepth``); only a chain of functions each
    /// triggered by another's system event gets there.
    @_spi(StoreImplementation)
    public static func eventSummary(_ event: StoredEvent) -> JSON {
        let room = JSON.maximumSystemEventNestingDepth - 2
        var omitted: [JSON] = []
        var data = event.data
        if data.nestingDepth > room {
            data = .emptyObject
            omitted.append("data")
        }
        var summary: JSON.Object = [
            "id": .string(event.id.description), "name": .string(event.name), "data": data, "ts": .int(event.ts),
        ]
        if let user = event.user {
            if user.nestingDepth > room {
                omitted.append("user")
            } else {
                summary["user"] = user
            }
        }
        if !omitted.isEmpty { summary["omitted"] = .array(omitted) }
        if let dedupeID = event.dedupeID { summary["dedupe_id"] = .string(dedupeID) }
        return .object(summary)
    }
}


/// The system events, each built in one place and used by the engine and by every store
/// alike: a store that appends one (a `cancelOn`'s cancellation) asks for it here, so its
/// payload is the same whoever appends it.
///
/// Each is a valid event by construction (a reserved name, an object payload within the
/// depth a system event may have), so it needs no validation.
extension SystemEvent {
    /// `stepwise/function.finished`: `run` completed with `output`.
    @_spi(StoreImplementation)
    public static func finished(run: RunRecord, triggeringEvent: StoredEvent, output: JSON, at time: Int64) -> NewEvent {
        about(run, functionFinished, ["output": output], triggeringEvent: triggeringEvent, at: time)
    }

    /// `stepwise/function.failed`: `run` failed for good with `error`.
    @_spi(StoreImplementation)
    public static func failed(run: RunRecord, triggeringEvent: StoredEvent, error: ErrorRecord, at time: Int64) -> NewEvent {
        about(run, functionFailed, ["error": ["name": .string(error.name), "message": .string(error.message)]],
              triggeringEvent: triggeringEvent, at: time)
    }

    /// `stepwise/function.cancelled`: `run` was cancelled for `reason` (`api`, `cancelOn`,
    /// `timeouts.start`, `timeouts.finish`), by the event `cancelledBy` when one did it.
    ///
    /// - Parameter triggeringEvent: the run's event; `nil` when it cannot be read, which
    ///   leaves it out rather than keeping the run from being cancelled (invariant 7).
    @_spi(StoreImplementation)
    public static func cancelled(
        run: RunRecord, triggeringEvent: StoredEvent?, reason: String, cancelledBy: EventID? = nil, at time: Int64
    ) -> NewEvent {
        var extra: JSON.Object = ["reason": .string(reason)]
        if let cancelledBy { extra["cancelled_by"] = .string(cancelledBy.description) }
        return about(run, functionCancelled, extra, triggeringEvent: triggeringEvent, at: time)
    }

    /// `stepwise/scheduled.timer`: the tick at `scheduledAt` of a function's schedule.
    @_spi(StoreImplementation)
    public static func scheduledTimer(
        appID: String, functionID: String, expression: String, timeZone: String, scheduledAt: Int64, at time: Int64
    ) -> NewEvent {
        let data: JSON = [
            "function_id": .string(functionID), "app_id": .string(appID), "cron": .string(expression),
            "time_zone": .string(timeZone), "scheduled_at": .int(scheduledAt),
        ]
        return NewEvent(systemEvent: scheduledTimer, data: data, at: time)
    }

    private static func about(
        _ run: RunRecord, _ name: String, _ extra: JSON.Object, triggeringEvent: StoredEvent?, at time: Int64
    ) -> NewEvent {
        var data: JSON.Object = [
            "function_id": .string(run.functionID), "app_id": .string(run.appID), "run_id": .string(run.id.description),
        ]
        for (key, value) in extra { data[key] = value }
        if let triggeringEvent { data["event"] = eventSummary(triggeringEvent) }
        return NewEvent(systemEvent: name, data: .object(data), at: time)
    }
}
