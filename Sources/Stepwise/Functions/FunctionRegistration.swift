/// The functions of one app, as a store keeps them so that any process on the store can
/// create their runs when an event arrives.
public struct FunctionRegistration: Sendable, Hashable {
    public struct Function: Sendable, Hashable {
        public let id: String
        public let triggers: [TriggerRegistration]

        public init(id: String, triggers: [TriggerRegistration]) {
            self.id = id
            self.triggers = triggers
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

    public init(environment: String, appID: String, functions: [Function], isCompleteSet: Bool) {
        self.environment = environment
        self.appID = appID
        self.functions = functions
        self.isCompleteSet = isCompleteSet
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
