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
    static func eventSummary(_ event: StoredEvent) -> JSON {
        var summary: JSON.Object = [
            "id": .string(event.id.description), "name": .string(event.name), "data": event.data, "ts": .int(event.ts),
        ]
        if let user = event.user { summary["user"] = user }
        if let dedupeID = event.dedupeID { summary["dedupe_id"] = .string(dedupeID) }
        return .object(summary)
    }
}

