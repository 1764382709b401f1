public import Hummingbird
public import Stepwise

/// The Event API (`/e/{eventKey}`, Inngest's wire format) and the REST API (`/v1`) of a
/// ``StepwiseClient``, to mount in a Hummingbird app:
///
/// ```swift
/// let router = Router()
/// StepwiseHTTPAPI(client: stepwise, configuration: .fromEnvironment(environment, isDevelopment: false))
///     .addRoutes(to: router)
/// ```
///
/// Events posted without `x-inngest-env` go to the client's environment and are published on
/// its bus, so a worker of the same client hears of them at once; events for another
/// environment are stored for the workers serving it.
public struct StepwiseHTTPAPI: Sendable {
    let eventAPI: EventAPIRoutes
    let restAPI: RESTAPIRoutes

    /// The APIs of `client`, admitting requests as `configuration` says.
    public init(client: StepwiseClient, configuration: StepwiseHTTPConfiguration) {
        let environments = EnvironmentGate(
            store: client.store, defaultEnvironment: client.configuration.environment, configuration: configuration)
        eventAPI = EventAPIRoutes(
            client: client, configuration: configuration, environments: environments,
            bodies: BodyBudget(capacity: configuration.maxBufferedRequestBytes))
        restAPI = RESTAPIRoutes(clients: EnvironmentClients(served: client), configuration: configuration, environments: environments)
    }

    /// Adds `e` and `v1` to `router` — a `Router`, or a `RouterGroup` to mount them under a
    /// prefix (Inngest's SDKs expect `/e` at the root of the base URL they are given). Their
    /// errors answer `{"error": "…", "status": N}`.
    public func addRoutes(to router: some RouterMethods) {
        eventAPI.register(on: router.group("e").add(middleware: APIErrorMiddleware()))
        restAPI.register(on: router.group("v1").add(middleware: APIErrorMiddleware()))
    }

    /// A router that serves only these APIs, logging each request in one line, and answering
    /// every other path with a JSON 404: what `stepwise dev` and `stepwise serve` run.
    ///
    /// - Parameter metrics: when given, every request is timed into it
    ///   (``HTTPMetricsMiddleware``) and `GET /metrics` serves it.
    public func router(metrics: PrometheusEndpoint? = nil) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: RequestLogMiddleware())
        if let metrics {
            router.add(middleware: HTTPMetricsMiddleware(factory: metrics.factory))
            metrics.addRoute(to: router)
        }
        router.add(middleware: APIErrorMiddleware())
        addRoutes(to: router)
        return router
    }
}
