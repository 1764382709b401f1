public import Hummingbird
public import Metrics
import Synchronization

/// Records `http.server.request.duration` (OpenTelemetry's name, a timer in seconds) for each
/// request, by `http.request.method`, `http.route` (the route's pattern, such as
/// `/e/{eventKey}`, never the path with its values: bounded, and no secret key) and
/// `http.response.status_code`, into the factory it is given.
///
/// Hummingbird's own `MetricsMiddleware` records the same name into the process-global
/// `MetricsSystem`; this one takes a factory, so that a server's endpoint (and a test) reads
/// its own requests alone.
public struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private let timers: TimerCache

    /// A middleware recording into `factory`.
    public init(factory: any MetricsFactory) {
        timers = TimerCache(factory: factory)
    }

    /// Answers through `next` and records how long it took, whatever the outcome.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            record(request, context: context, status: response.status.code, since: start)
            return response
        } catch let error as any HTTPResponseError {
            record(request, context: context, status: error.status.code, since: start)
            throw error
        } catch {
            record(request, context: context, status: 500, since: start)
            throw error
        }
    }

    private func record(_ request: Request, context: Context, status: Int, since start: ContinuousClock.Instant) {
        let elapsed = (ContinuousClock.now - start).components
        let key = TimerCache.Key(method: request.method.rawValue, route: context.endpointPath ?? "unmatched", status: status)
        timers.timer(for: key).recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
    }
}

/// The timers by method, route and status, made once each: a bounded set, since routes are
/// patterns and unmatched paths share one.
final class TimerCache: Sendable {
    struct Key: Hashable, Sendable {
        let method: String
        let route: String
        let status: Int
    }

    private let factory: any MetricsFactory
    private let timers = Mutex<[Key: Metrics.Timer]>([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    func timer(for key: Key) -> Metrics.Timer {
        timers.withLock { timers in
            if let timer = timers[key] { return timer }
            let timer = Metrics.Timer(
                label: "http.server.request.duration",
                dimensions: [
                    ("http.request.method", key.method), ("http.route", key.route), ("http.response.status_code", String(key.status)),
                ],
                preferredDisplayUnit: .seconds, factory: factory)
            timers[key] = timer
            return timer
        }
    }
}
