public import Logging
public import Metrics
public import Tracing

/// The entry point of Stepwise in an app: it sends events, looks them up, and (as the engine
/// grows) holds the app's functions. Create one per app and share it.
///
/// ```swift
/// let stepwise = StepwiseClient(id: "acme-storefront-app", store: try .sqlite(path: "stepwise.db"))
/// let id = try await stepwise.send(Event(name: "storefront/cart.checkout.completed",
///                                        data: ["cartId": "ed12c8bde"]))
/// ```
public final class StepwiseClient: Sendable {
    /// Settings of a client; the defaults follow Inngest's.
    public struct Configuration: Sendable {
        /// The environment events are sent to and read from.
        public var environment: String
        /// How long an event's dedupe `id` holds: a later event with the same `id` within
        /// this window is ignored.
        public var dedupeWindow: Duration
        /// The sizes `send` accepts.
        public var limits: EventLimits
        /// Where the time of day comes from.
        public var clock: any WallClock
        /// How a `Date` inside a `Codable` step result, function output or event payload is
        /// written, and read back: ISO 8601 with milliseconds by default. Change it only
        /// together with every reader of the stored JSON.
        public var dateEncoding: JSONDateEncoding
        /// How events' `user` is stored: ``UserEncryption/unconfigured`` refuses events that
        /// carry one, until the app chooses a cipher or ``UserEncryption/plaintext``.
        public var userEncryption: UserEncryption
        /// Where Stepwise's metrics go (events sent, runs started and ended, step durations,
        /// claim delays, the age of the oldest due run, leases lost): an app's backend, given
        /// here rather than bootstrapped globally, so that tests and several clients in one
        /// process each keep their own. `nil` takes `MetricsSystem.factory` as it is when the
        /// client is made (a no-op unless the app bootstrapped one first).
        public var metricsFactory: (any MetricsFactory)?
        /// The tracer of `send`'s, runs' and steps' spans, whose context each event stores for
        /// the runs it triggers (``TraceContext``). `nil` takes `InstrumentationSystem.tracer`
        /// as it is when the client is made (a no-op unless the app bootstrapped one first).
        public var tracer: (any Tracer)?

        public init(
            environment: String = "default",
            dedupeWindow: Duration = .seconds(24 * 60 * 60),
            limits: EventLimits = .default,
            clock: any WallClock = .system,
            dateEncoding: JSONDateEncoding = .iso8601,
            userEncryption: UserEncryption = .unconfigured,
            metricsFactory: (any MetricsFactory)? = nil,
            tracer: (any Tracer)? = nil
        ) {
            self.environment = environment
            self.dedupeWindow = dedupeWindow
            self.limits = limits
            self.clock = clock
            self.dateEncoding = dateEncoding
            self.userEncryption = userEncryption
            self.metricsFactory = metricsFactory
            self.tracer = tracer
        }
    }

    /// The app's id, such as `"acme-storefront-app"`.
    public let id: String
    public let store: any Store
    public let configuration: Configuration
    /// The in-process event bus: every event this client stores is published here after it
    /// commits.
    public let bus: EventBus
    /// The app's logger, with `stepwise.app` in its metadata: what Stepwise logs through, and
    /// what a function's code reads as `Logger.current` (with the run's and step's metadata).
    public let logger: Logger
    let registry = FunctionRegistry()
    /// The worker in this process that sends claim runs for, if one is running.
    let sendClaimers = SendClaimers()
    /// The metrics, made once from ``Configuration/metricsFactory``.
    let metrics: StepwiseMetrics
    /// ``Configuration/tracer``, or the global one as it was when the client was made; the
    /// Event API extracts a request's trace with it.
    package let tracer: any Tracer

    public init(
        id: String,
        store: some Store,
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "stepwise")
    ) {
        self.id = id
        self.store = store
        self.configuration = configuration
        self.bus = EventBus()
        self.metrics = StepwiseMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory, appID: id)
        self.tracer = configuration.tracer ?? InstrumentationSystem.tracer
        var logger = logger
        logger[metadataKey: "stepwise.app"] = "\(id)"
        self.logger = logger
    }
}
