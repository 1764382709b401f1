public import Hummingbird

/// Logs each request in one line once it is answered: method, path, status and duration.
/// The event key in `…/e/{eventKey}` is a secret: whatever follows an `e` segment (in any case,
/// spelling or number of slashes) is logged as `***`, wherever the Event API is mounted and
/// whether or not a route answered the path.
public struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    /// A middleware that logs through each request's logger, at `info`.
    public init() {}

    /// Answers the request through `next`, then logs the line, whatever the outcome.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let status: HTTPResponse.Status
        do {
            let response = try await next(request, context)
            status = response.status
            log(request, context: context, status: status, since: start)
            return response
        } catch let error as any HTTPResponseError {
            log(request, context: context, status: error.status, since: start)
            throw error
        } catch {
            log(request, context: context, status: .internalServerError, since: start)
            throw error
        }
    }

    private func log(_ request: Request, context: Context, status: HTTPResponse.Status, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        context.logger.info(
            "\(request.method) \(Self.redacted(request.uri.path)) \(status.code) \((milliseconds * 10).rounded() / 10)ms")
    }

    /// The path as it may be logged: see ``PathRedaction``.
    static func redacted(_ path: String) -> String {
        PathRedaction.redacted(path)
    }
}
