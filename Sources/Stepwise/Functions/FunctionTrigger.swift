/// What starts a function's runs: events, a schedule, or nothing but `step.invoke`.
public struct FunctionTrigger: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case event(TriggerRegistration)
        case cron(expression: String, timeZone: String)
        /// No trigger at all: said explicitly, so that a function left without triggers by
        /// mistake is still refused by `createFunction`.
        case invokeOnly
    }

    let kind: Kind

    /// Runs the function for every event whose name matches: an exact name, or a prefix
    /// ending in `*` such as `"storefront/*"`.
    public static func event(_ pattern: EventPattern) -> FunctionTrigger {
        FunctionTrigger(kind: .event(TriggerRegistration(pattern: pattern)))
    }

    /// Runs the function for every event whose name matches and for which `condition` holds
    /// (`"event.data.amount > 100"`): an event for which it is `false` or `null`, or cannot
    /// be evaluated, starts no run, and its admission record says why. Checked by
    /// `createFunction`; evaluated once, by whichever process accepts the event.
    public static func event(_ pattern: EventPattern, if condition: EventExpression) -> FunctionTrigger {
        FunctionTrigger(kind: .event(TriggerRegistration(pattern: pattern, condition: condition)))
    }

    /// Runs the function on a schedule (see ``CronSchedule`` for the syntax), once per tick
    /// across every worker on the store. After downtime, the ticks missed make one run, not
    /// one each. Its event is `stepwise/scheduled.timer`. An invalid expression or time zone
    /// is reported by `createFunction`.
    public static func cron(_ expression: String, timeZone: String = "UTC") -> FunctionTrigger {
        FunctionTrigger(kind: .cron(expression: expression, timeZone: timeZone))
    }

    /// No event or schedule starts the function: it runs only when another run calls
    /// `step.invoke` on it (every function can be invoked; this one can only be invoked).
    /// Give it alone, not beside other triggers.
    public static let invokeOnly = FunctionTrigger(kind: .invokeOnly)

    init(kind: Kind) {
        self.kind = kind
    }

    init(registration: TriggerRegistration) {
        self.kind = .event(registration)
    }

    /// The event trigger, if this is one.
    var registration: TriggerRegistration? {
        if case .event(let registration) = kind { return registration }
        return nil
    }

    public var description: String {
        switch kind {
        case .event(let registration): return "event \(registration.pattern)"
        case .cron(let expression, let timeZone): return "cron \(expression) (\(timeZone))"
        case .invokeOnly: return "invoke only"
        }
    }
}
