public import Hummingbird
public import Prometheus

/// `GET /metrics` in Prometheus's text format, over a registry of its own: give ``factory``
/// to the client (``StepwiseClient/Configuration/metricsFactory``) and to
/// ``HTTPMetricsMiddleware``, and mount the route beside the APIs. What `stepwise dev` and
/// `stepwise serve` do.
///
/// ```swift
/// let metrics = PrometheusEndpoint()
/// let stepwise = StepwiseClient(id: "acme-storefront-app", store: store,
///                               configuration: .init(metricsFactory: metrics.factory))
/// let router = StepwiseHTTPAPI(client: stepwise, configuration: configuration).router(metrics: metrics)
/// ```
///
/// A registry per endpoint rather than the process-global one, so that a test, or an app
/// with two servers, reads only its own. The dots of OpenTelemetry's names become
/// underscores (`messaging.client.sent.messages` → `messaging_client_sent_messages`), as
/// Prometheus allows no dots in a name; timers are histograms in seconds.
public struct PrometheusEndpoint: Sendable {
    /// Where the metrics are kept.
    public let registry: PrometheusCollectorRegistry
    /// The factory that records into ``registry``.
    public let factory: PrometheusMetricsFactory

    /// An endpoint over `registry` (a new one by default).
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.factory = PrometheusMetricsFactory(registry: registry)
    }

    /// The text exposition of every metric recorded so far.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }

    /// Adds `GET /metrics` (or `path`) to `router`. It needs no key: mount it where only the
    /// scraper reaches it, or behind the app's own middleware, when the counts are private.
    public func addRoute(to router: some RouterMethods, path: RouterPath = "metrics") {
        router.get(path) { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: self.exposition())))
        }
    }
}
