/// The part of a function's options that a store keeps, as one value: what a process that
/// does not hold the function's code needs to start its runs (its `cancelOn`), and what
/// someone looking at the store needs to recognise it (its display name).
///
/// A store keeps it as the JSON of ``json`` in one column and hands it back unread, so that
/// a setting added later (flow control) needs no new column in any store: only this type
/// learns it. Keys this version does not know are ignored when read, so an older process on
/// a store written by a newer one still reads the settings it knows.
public struct FunctionSettings: Sendable, Hashable {
    /// A name to show instead of the id, if the app gave one.
    public var name: String?
    /// The events that cancel a run of the function.
    public var cancelOn: [CancelOn]
    /// The flow-control options, which whichever process accepts an event applies.
    public var concurrency: [ConcurrencyLimit]
    public var throttle: Throttle?
    public var rateLimit: RateLimit?
    public var idempotency: EventExpression?
    public var priority: Priority?
    public var debounce: Debounce?
    public var batchEvents: BatchEvents?
    public var singleton: Singleton?
    /// The function's `timeouts.start`, which a throttle needs where the event is accepted.
    public var startTimeout: Duration?

    public init(
        name: String? = nil, cancelOn: [CancelOn] = [], concurrency: [ConcurrencyLimit] = [], throttle: Throttle? = nil,
        rateLimit: RateLimit? = nil, idempotency: EventExpression? = nil, priority: Priority? = nil, debounce: Debounce? = nil,
        batchEvents: BatchEvents? = nil, singleton: Singleton? = nil, startTimeout: Duration? = nil
    ) {
        self.startTimeout = startTimeout
        self.name = name
        self.cancelOn = cancelOn
        self.concurrency = concurrency
        self.throttle = throttle
        self.rateLimit = rateLimit
        self.idempotency = idempotency
        self.priority = priority
        self.debounce = debounce
        self.batchEvents = batchEvents
        self.singleton = singleton
    }

    /// The settings as a store keeps them.
    public var json: JSON {
        var members: JSON.Object = [:]
        if let name { members["name"] = .string(name) }
        if !cancelOn.isEmpty { members["cancel_on"] = .array(cancelOn.map(\.json)) }
        addFlowControl(to: &members)
        return .object(members)
    }

    /// The settings kept as `json`; entries that do not parse are left out rather than
    /// failing the read, because they were written by Stepwise, and a cancellation that cannot
    /// be read is one that cannot fire (the run goes on, as it would without it).
    public init(json: JSON) {
        self.name = json["name"]?.stringValue
        self.cancelOn = json["cancel_on"]?.arrayValue?.compactMap(CancelOn.init(json:)) ?? []
        (concurrency, throttle, rateLimit, idempotency, priority) = Self.flowControl(json)
        (debounce, batchEvents, singleton) = Self.admissionControl(json)
        startTimeout = json["start_timeout_ms"]?.intValue.map { .milliseconds($0) }
    }
}
