import OrderedCollections

/// The functions of one app, as a store keeps them so that any process on the store can
/// create their runs when an event arrives.
public struct FunctionRegistration: Sendable, Hashable {
    public struct Function: Sendable, Hashable {
        public let id: String
        public let triggers: [TriggerRegistration]
        /// What the store keeps of the function's options, as one value.
        public let settings: FunctionSettings
        /// The schedules that start its runs, each with its first tick.
        public let schedules: [ScheduleRegistration]

        public init(id: String, triggers: [TriggerRegistration], settings: FunctionSettings = FunctionSettings(), schedules: [ScheduleRegistration] = []) {
            self.id = id
            self.triggers = triggers
            self.settings = settings
            self.schedules = schedules
        }
    }

    public let environment: String
    public let appID: String
    /// The functions to register; each replaces the stored function of the same id.
    public let functions: [Function]
    /// Whether `functions` is the app's whole set, so that the app's stored functions not in
    /// it are removed and stop getting runs. A worker registers its whole set when it starts;
    /// a process that only sends adds its functions without removing another process's.
    public let isCompleteSet: Bool
    /// The time of registration, in milliseconds since the epoch.
    public let now: Int64

    public init(environment: String, appID: String, functions: [Function], isCompleteSet: Bool, now: Int64) {
        self.environment = environment
        self.appID = appID
        self.functions = functions
        self.isCompleteSet = isCompleteSet
        self.now = now
    }
}

/// A cron schedule as registered: the engine computes its first tick, so that a store keeps
/// times and never reads a cron expression.
public struct ScheduleRegistration: Sendable, Hashable {
    public let expression: String
    public let timeZone: String
    /// The first tick after registration, in milliseconds since the epoch; `Int64.max` when
    /// the expression has none. A store keeps the tick of a schedule it already holds, so a
    /// re-registration neither skips nor repeats one.
    public let firstTickAt: Int64

    public init(expression: String, timeZone: String, firstTickAt: Int64) {
        self.expression = expression
        self.timeZone = timeZone
        self.firstTickAt = firstTickAt
    }

    /// The registration of `schedule`, its first tick the next after `now`.
    public init(_ schedule: CronSchedule, after now: Int64) {
        self.init(expression: schedule.expression, timeZone: schedule.timeZoneIdentifier, firstTickAt: schedule.next(after: now) ?? Int64.max)
    }
}

/// An event trigger as stored: a name pattern and, optionally, fields the event must have and
/// an `if` expression that must hold.
public struct TriggerRegistration: Sendable, Hashable {
    public let pattern: EventPattern
    /// Dotted paths into the event (`data.function_id`) and the values they must equal.
    public let conditions: [String: JSON]
    /// The trigger's `if`: an event for which it does not hold starts no run, and the
    /// event's admission record says so.
    public let condition: EventExpression?

    /// The member of ``storedConditions`` that holds ``condition``: no path, which starts at
    /// `name`, `data` or `user`, can be spelled so.
    static let conditionMember = "$if"

    public init(pattern: EventPattern, conditions: [String: JSON] = [:], condition: EventExpression? = nil) {
        self.pattern = pattern
        self.conditions = conditions
        self.condition = condition
    }

    /// The conditions as a store keeps them: an object of paths to values (and the `if`
    /// under `$if`), its keys sorted so that the same trigger is always stored the same way;
    /// `nil` for none.
    public var storedConditions: JSON? {
        guard !conditions.isEmpty || condition != nil else { return nil }
        var members = conditions.sorted { $0.key < $1.key }.map { (JSON.Key($0.key), $0.value) }
        if let condition { members.append((JSON.Key(Self.conditionMember), .string(condition.text))) }
        return .object(JSON.Object(uniqueKeysWithValues: members))
    }

    /// A trigger as a store kept it, its conditions from ``storedConditions``.
    ///
    /// - Throws: ``StoredTriggerError`` when the conditions are not an object, or its `if`
    ///   does not parse: a store that holds that was changed by something other than
    ///   Stepwise.
    public init(pattern: EventPattern, storedConditions: JSON?) throws(StoredTriggerError) {
        guard let storedConditions else {
            self.init(pattern: pattern)
            return
        }
        guard case .object(var members) = storedConditions else { throw StoredTriggerError(pattern: pattern.description) }
        var condition: EventExpression?
        if let stored = members.removeValue(forKey: JSON.Key(Self.conditionMember)) {
            guard let text = stored.stringValue, let parsed = try? EventExpression(parsing: text) else {
                throw StoredTriggerError(pattern: pattern.description)
            }
            condition = parsed
        }
        self.init(
            pattern: pattern, conditions: Dictionary(members.map { ($0.key.string, $0.value) }, uniquingKeysWith: { _, last in last }),
            condition: condition)
    }

    /// Whether every path in `conditions` (`data.function_id`, `user.id`, `name`) has its value
    /// in `event`. The `if` is flow control's, applied where a run is admitted.
    public func conditionsHold(for event: StoredEvent) -> Bool {
        if conditions.isEmpty { return true }
        let envelope = event.expressionEnvelope
        return conditions.allSatisfy { path, expected in envelope.value(atPath: path) == expected }
    }
}

/// A stored trigger's conditions are not what Stepwise writes.
public struct StoredTriggerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The trigger's pattern.
    public let pattern: String
    public var description: String { "the conditions of trigger '\(pattern)' are not a JSON object" }
}

/// An event that cancels a function's run: the next event with this name, received after the
/// run was created (and within `timeout` of that, when given), whose value at `match` equals
/// the triggering event's value there.
///
/// ```swift
/// try stepwise.createFunction(id: "send-reminder", trigger: .event("app/cart.abandoned"),
///                             cancelOn: [.event("storefront/cart.checkout.completed", match: "data.cartId")]) { … }
/// ```
public struct CancelOn: Sendable, Hashable {
    public let eventName: String
    /// A dotted path such as `"data.cartId"`; `nil` cancels on any event with the name.
    public let match: String?
    /// A further condition on the incoming event (see ``EventCondition``); `createFunction`
    /// refuses one that does not parse.
    public let condition: String?
    /// How long after the run is created the cancellation listens; for the run's life when `nil`.
    public let timeout: Duration?

    public static func event(_ name: String, match: String? = nil, if condition: String? = nil, timeout: Duration? = nil) -> CancelOn {
        CancelOn(eventName: name, match: match, condition: condition, timeout: timeout)
    }

    /// The cancellation as ``FunctionSettings`` keeps it.
    public var json: JSON {
        var members: JSON.Object = ["event": .string(eventName)]
        if let match { members["match"] = .string(match) }
        if let condition { members["if"] = .string(condition) }
        if let timeout { members["timeout_ms"] = .int(timeout.milliseconds) }
        return .object(members)
    }

    init(eventName: String, match: String?, condition: String?, timeout: Duration?) {
        self.eventName = eventName
        self.match = match
        self.condition = condition
        self.timeout = timeout
    }

    /// A cancellation kept as ``json``; `nil` when it is not one.
    public init?(json: JSON) {
        guard let name = json["event"]?.stringValue else { return nil }
        self.init(
            eventName: name, match: json["match"]?.stringValue, condition: json["if"]?.stringValue,
            timeout: json["timeout_ms"]?.intValue.map { .milliseconds($0) })
    }
}
