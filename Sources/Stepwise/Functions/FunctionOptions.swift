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
/// Every setting is a `var` with a default, so a new one (the flow-control settings to come:
/// concurrency with keys, throttle, rate limit, debounce, event batching, priority,
/// idempotency, singleton) is added here as one more `var` with a default that changes
/// nothing, and no call site breaks. Build it with the initializer, or start from ``default``
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

    /// Options with every setting given or left at its default.
    public init(
        name: String? = nil,
        retries: RetryPolicy = .default,
        cancelOn: [CancelOn] = [],
        timeouts: FunctionTimeouts = FunctionTimeouts(),
        onFailure: FailureHandler? = nil
    ) {
        self.name = name
        self.retries = retries
        self.cancelOn = cancelOn
        self.timeouts = timeouts
        self.onFailure = onFailure
    }

    /// Every setting at its default: 4 retries, no cancellation, no timeouts, no failure handler.
    public static var `default`: FunctionOptions { FunctionOptions() }
}
