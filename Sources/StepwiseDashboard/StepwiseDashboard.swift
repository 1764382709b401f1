public import Hummingbird
public import Stepwise
public import StepwiseHTTP

/// The dashboard of a ``StepwiseClient``'s store: pages for events, runs, their steps and the
/// functions apps registered, and forms to send an event, cancel and rerun runs — rendered on
/// the server from the same reads as the REST API, so it needs no build step, no npm and
/// nothing from a CDN.
///
/// `stepwise dev` and `stepwise serve` serve it at `/`, beside the APIs. In your own
/// Hummingbird app, mount it under a path:
///
/// ```swift
/// let router = Router()
/// let configuration = StepwiseHTTPConfiguration.fromEnvironment(environment, isDevelopment: false)
/// StepwiseHTTPAPI(client: stepwise, configuration: configuration).addRoutes(to: router)
/// StepwiseDashboard(client: stepwise, configuration: configuration).addRoutes(to: router, at: "/stepwise")
/// ```
///
/// Who may use it follows `configuration`: in development mode anyone who reaches it (the dev
/// server listens on 127.0.0.1); otherwise only with a signing key, as a bearer or through the
/// login page, which sets an HttpOnly, SameSite=Strict session cookie. Every form it answers
/// carries a CSRF token, and every POST is refused without it or from another origin. It shows
/// payloads and can cancel runs: put it behind your own authentication too when it is reachable
/// from outside.
public struct StepwiseDashboard: Sendable {
    let routes: DashboardRoutes

    /// The dashboard of `client`'s store: its environment by default, others by the `env`
    /// parameter of every page, admitted as `configuration` admits `x-inngest-env`.
    public init(client: StepwiseClient, configuration: StepwiseHTTPConfiguration) {
        routes = DashboardRoutes(
            client: client, configuration: configuration,
            security: DashboardSecurity(isDevelopment: configuration.isDevelopment, signingKeys: configuration.signingKeys))
    }

    /// Adds the dashboard's pages to `router` under `path`, the path from the server's root
    /// at which the pages are reached (`/` for the root): the pages link to each other with it.
    ///
    /// - Parameters:
    ///   - router: the app's `Router` (not a group: `path` is the whole prefix).
    ///   - path: where the dashboard lives, such as `/stepwise`.
    public func addRoutes<Context: RequestContext>(to router: Router<Context>, at path: String = "/") {
        let trimmed = path.split(separator: "/").joined(separator: "/")
        let base = trimmed.isEmpty ? "" : "/" + trimmed
        routes.register(on: router.group(RouterPath(trimmed)), base: base)
    }
}
