/// A function as registered in a store by an app's worker: what `stepwise functions list`
/// and `GET /v1/functions` show, so that someone looking at a store can tell which app
/// handles which events, without the app's code at hand.
public struct FunctionRecord: Sendable, Hashable {
    /// A cron schedule of the function, with its next tick.
    public struct Schedule: Sendable, Hashable {
        public let expression: String
        public let timeZone: String
        /// When the next run starts, in milliseconds since the epoch; `nil` when the schedule
        /// has no tick left. Users read ``nextDate``.
        package let nextAt: Int64?

        public init(expression: String, timeZone: String, nextAt: Int64?) {
            self.expression = expression
            self.timeZone = timeZone
            self.nextAt = nextAt
        }
    }

    public let environment: String
    public let appID: String
    public let id: String
    /// The event patterns that trigger it (`app/user.created`, `storefront/*`).
    public let triggers: [EventPattern]
    public let schedules: [Schedule]
    /// What the store keeps of its options.
    public let settings: FunctionSettings
    /// The events that cancel its runs.
    public var cancelOn: [CancelOn] { settings.cancelOn }
    /// Its display name, if its app gave one.
    public var name: String? { settings.name }
    /// When its app last registered it, in milliseconds since the epoch. Users read
    /// ``registrationDate``.
    package let registeredAt: Int64

    public init(
        environment: String, appID: String, id: String, triggers: [EventPattern], schedules: [Schedule], settings: FunctionSettings,
        registeredAt: Int64
    ) {
        self.environment = environment
        self.appID = appID
        self.id = id
        self.triggers = triggers
        self.schedules = schedules
        self.settings = settings
        self.registeredAt = registeredAt
    }
}
