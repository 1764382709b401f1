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

    /// The `event` member of a system event's data: the triggering event.
    ///
    /// The summary sits two levels down in the system event's data, so a payload nested
    /// within two levels of the most a system event may hold is left out (`data` is then
    /// `{}`, and `omitted` lists what was left out): the system event stays readable, and
    /// the event itself is still there to look up by its id. Payloads sent by users are
    /// far from that (``JSON/maximumPayloadNestingDepth``); only a chain of functions each
    /// triggered by another's system event gets there.
    static func eventSummary(_ event: StoredEvent) -> JSON {
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

