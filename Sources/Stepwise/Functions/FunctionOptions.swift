/// How a function behaves, apart from its id, its triggers and its body: one value, so that
/// `createFunction` has one signature however many settings a function grows.
///
/// ```swift
/// try stepwise.createFunction(
///     id: "charge-card", trigger: .event("billing/invoice.due"),
///     options: .init(retries: RetryPolicy(retries: 2), cancelOn: [.event("billing/invoice.voided", match: "data.invoiceId")])
/// ) { event, step in
///     try await step.run("charge") { try await charge(event.data) }
/// }
/// ```
///
/// Every setting is a `var` with a default, so a new one is added here as one more `var` with
/// a default that changes nothing, and no call site breaks. Build it with the initializer, or start from ``default``
/// and set what differs.
public struct FunctionOptions: Sendable {
    /// What runs when a run fails for good: the `stepwise/function.failed` event (whose
    /// `data` holds `error` and the triggering `event`) and its own steps.
    public typealias FailureHandler = @Sendable (StoredEvent, Step) async throws -> Void

    /// A name for people (dashboards, listings); the id stays the function's identity in the
    /// store, so the name may change freely. `nil` shows the id.
    public var name: String?
    /// How failed steps and the function are retried (4 retries by default).
    public var retries: RetryPolicy
    /// Events that cancel a run (see ``CancelOn``).
    public var cancelOn: [CancelOn]
    /// How long a run may wait to start, and to finish, before it is cancelled.
    public var timeouts: FunctionTimeouts
    /// Runs once when a run of this function fails for good, as a function of its own
    /// (`<id>-failure`) with this function's retries, so a failure handler that itself fails
    /// is retried rather than lost.
    public var onFailure: FailureHandler?
    /// How many runs execute at once, per function or per key: up to two limits, each of
    /// which a run must fit (see ``ConcurrencyLimit``).
    public var concurrency: [ConcurrencyLimit]
    /// How fast runs start; the excess waits its turn (see ``Throttle``).
    public var throttle: Throttle?
    /// How many events start a run per period; the excess starts none (see ``RateLimit``).
    public var rateLimit: RateLimit?
    /// A key by which an event starts a run at most once in 24 hours: an order id, so that an
    /// order sent twice is charged once. An event whose key gave `false` is not checked.
    /// Not with ``rateLimit``, which it would replace.
    public var idempotency: EventExpression?
    /// Which of the function's queued runs start first (see ``Priority``).
    public var priority: Priority?
    /// Runs once events stop coming, with the latest (see ``Debounce``).
    public var debounce: Debounce?
    /// Runs once for several events (see ``BatchEvents``).
    public var batchEvents: BatchEvents?
    /// At most one active run per key (see ``Singleton``).
    public var singleton: Singleton?

    /// Options with every setting given or left at its default.
    public init(
        name: String? = nil,
        retries: RetryPolicy = .default,
        cancelOn: [CancelOn] = [],
        timeouts: FunctionTimeouts = FunctionTimeouts(),
        concurrency: [ConcurrencyLimit] = [],
        throttle: Throttle? = nil,
        rateLimit: RateLimit? = nil,
        idempotency: EventExpression? = nil,
        priority: Priority? = nil,
        debounce: Debounce? = nil,
        batchEvents: BatchEvents? = nil,
        singleton: Singleton? = nil,
        onFailure: FailureHandler? = nil
    ) {
        self.name = name
        self.retries = retries
        self.cancelOn = cancelOn
        self.timeouts = timeouts
        self.concurrency = concurrency
        self.throttle = throttle
        self.rateLimit = rateLimit
        self.idempotency = idempotency
        self.priority = priority
        self.debounce = debounce
        self.batchEvents = batchEvents
        self.singleton = singleton
        self.onFailure = onFailure
    }

    /// Every setting at its default: 4 retries, no cancellation, no timeouts, no failure handler.
    public static var `default`: FunctionOptions { FunctionOptions() }
}
