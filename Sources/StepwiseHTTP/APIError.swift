public import Hummingbird
import NIOCore

/// An answer other than success, in the Event API's shape: `{"error": "…", "status": 400}`.
///
/// Inngest's Event API answers errors this way, and its SDKs read `error` to tell the caller
/// what went wrong, so the REST API uses the same shape.
public struct APIError: HTTPResponseError, CustomStringConvertible {
    /// The HTTP status, also written in the body as `status`.
    public let status: HTTPResponse.Status
    /// What was wrong, in words that name the part of the request at fault.
    public let message: String
    /// Headers the answer carries, such as `Allow` for a 405.
    public let headers: HTTPFields

    /// An answer with this status and message, and any extra headers.
    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    /// The status code and the message, for logs.
    public var description: String { "\(status.code) \(message)" }

    /// The JSON answer: `{"error": message, "status": code}`, with `headers`.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONResponse.make(["error": .string(message), "status": .int(Int64(status.code))], status: status)
        response.headers.append(contentsOf: headers)
        return response
    }
}

/// Turns every error a route throws into an ``APIError`` answer, so that no answer of these
/// APIs has another shape: Hummingbird's own (404 for an unknown path, 413 for a body over
/// the limit) included. An error no route expected is a 500 whose details go to the log,
/// not to the client.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "the request body is over the limit")
        } catch let error as any HTTPResponseError {
            throw APIError(error.status, error.status.reasonPhrase)
        } catch let error where Self.isConnectionGone(error) {
            // The client went away (a reset mid-body, a close the guard made): its business,
            // not the server's, and nobody is left to read the answer.
            context.logger.debug("the connection ended during the request", metadata: ["error": "\(error)"])
            throw APIError(.badRequest, "the connection ended before the request did")
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            throw APIError(.internalServerError, "internal error; the server's log has the details")
        }
    }

    /// Whether `error` says the connection is gone, as reading a body from a client that reset
    /// or closed it throws.
    static func isConnectionGone(_ error: any Error) -> Bool {
        error is IOError || error is ChannelError || error is CancellationError
    }
}
