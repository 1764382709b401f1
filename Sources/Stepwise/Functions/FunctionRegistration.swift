import OrderedCollections

/// The functions of one app, as a store keeps them so that any process on the store can
/// create their runs when an event arrives.
public struct FunctionRegistration: Sendable, Hashable {
    public struct Function: Sendable, Hashable {
        public let id: String
        public let triggers: [TriggerRegistration]
        /// The events that cancel a run of the function.
        public let cancelOn: [CancelOn]
        /// The schedules that start its runs.
        public let schedules: [CronSchedule]

        public init(id: String, triggers: [TriggerRegistration], cancelOn: [CancelOn] = [], schedules: [CronSchedule] = []) {
            self.id = id
            self.triggers = triggers
            self.cancelOn = cancelOn
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
    /// The time of registration: a new schedule's first tick is the next after it.
    public let now: Int64

    public init(environment: String, appID: String, functions: [Function], isCompleteSet: Bool, now: Int64) {
        self.environment = environment
        self.appID = appID
        self.functions = functions
        self.isCompleteSet = isCompleteSet
        self.now = now
    }
}

/// An event trigger as stored: a name pattern and, optionally, fields the event must have.
public struct TriggerRegistration: Sendable, Hashable {
    public let pattern: EventPattern
    /// Dotted paths into the event (`data.function_id`) and the values they must equal.
    public let conditions: [String: JSON]

    public init(pattern: EventPattern, conditions: [String: JSON] = [:]) {
        self.pattern = pattern
        self.conditions = conditions
    }

    /// Whether every path in `conditions` (`data.function_id`, `user.id`, `name`) has its value.
    static func conditionsHold(_ conditions: [String: JSON], name: String, data: JSON, user: JSON?) -> Bool {
        if conditions.isEmpty { return true }
        let envelope: JSON = ["name": .string(name), "data": data, "user": user ?? .null]
        return conditions.allSatisfy { path, expected in envelope.value(atPath: path) == expected }
    }
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

    var json: JSON {
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

    init?(json: JSON) {
        guard let name = json["event"]?.stringValue else { return nil }
        self.init(
            eventName: name, match: json["match"]?.stringValue, condition: json["if"]?.stringValue,
            timeout: json["timeout_ms"]?.intValue.map { .milliseconds($0) })
    }
}
