import HTTPTypes
import Hummingbird
import NIOCore
import Stepwise
import Tracing

/// `POST /e/{eventKey}`: Inngest's Event API. The body is one event object or an array; the
/// answer is `{"ids": […], "status": 200}`, one id per event, in order.
struct EventAPIRoutes: Sendable {
    /// The header a sender puts the seed of the request's ids in, so that a retry of the
    /// request is stored once and answered with the same ids.
    static let idSeedHeader = HTTPField.Name("x-inngest-event-id-seed")!
    static let environmentHeader = HTTPField.Name(EnvironmentGate.headerName)!

    let client: StepwiseClient
    let configuration: StepwiseHTTPConfiguration
    let environments: EnvironmentGate
    let bodies: BodyBudget

    func register<Context: RequestContext>(on router: RouterGroup<Context>) {
        for path: RouterPath in ["", ":eventKey"] {
            router.post(path) { request, context in
                try await self.send(request, key: context.parameters.get("eventKey"))
            }
            for method: HTTPRequest.Method in [.get, .put, .patch, .delete] {
                router.on(path, method: method) { _, _ -> Response in
                    throw APIError(.methodNotAllowed, "\(method) is not allowed here: send events with POST", headers: [.allow: "POST"])
                }
            }
        }
    }

    func send(_ request: Request, key: String?) async throws -> Response {
        // Refused before the body is read: a wrong key costs the server nothing more.
        if !configuration.isDevelopment {
            guard let key, configuration.eventKeys.contains(key) else {
                throw APIError(.unauthorized, "Event key not found")
            }
        }
        let environment = try await environments.environment(forHeader: request.headers[Self.environmentHeader])
        var seed: EventIDSeed?
        if let value = request.headers[Self.idSeedHeader] {
            guard let parsed = EventIDSeed(value) else {
                throw APIError(.badRequest, "x-inngest-event-id-seed: must be '<milliseconds>,<base64 of 10 bytes>', not '\(value.prefix(100))'")
            }
            seed = parsed
        }
        let declaredLength = request.headers[.contentLength].flatMap { Int($0) }
        if let declaredLength, declaredLength > configuration.maxRequestBytes {
            throw tooLarge
        }
        // A body's bytes are reserved before they are read: its declared length, or the most a
        // body may be when it declares none.
        return try await bodies.withReservation(of: declaredLength ?? configuration.maxRequestBytes) {
            try await receive(request, declaredLength: declaredLength, environment: environment, seed: seed)
        }
    }

    private func receive(_ request: Request, declaredLength: Int?, environment: String, seed: EventIDSeed?) async throws -> Response {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: configuration.maxRequestBytes)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
        // A connection that closes mid-body ends the body early rather than failing it: what
        // arrived is not the request that was sent.
        if let declaredLength, body.readableBytes < declaredLength {
            throw APIError(.badRequest, "the request body ended after \(body.readableBytes) of its \(declaredLength) bytes")
        }
        let json: JSON
        do {
            json = try JSON(parsing: body.readableBytesView)
        } catch {
            throw APIError(.badRequest, "\(error)")
        }
        do {
            let events = try Event.batch(fromWireFormat: json)
            // A sender's `traceparent` (or whatever the app's tracer propagates) makes the send
            // span, and so the runs the events trigger, part of the sender's trace.
            var trace = ServiceContext.current ?? .topLevel
            client.tracer.extract(request.headers, into: &trace, using: HTTPFieldsExtractor())
            let ids = try await ServiceContext.withValue(trace) { () async throws(any Error) -> [EventID] in
                try await client.send(events, environment: environment, idSeed: seed)
            }
            return JSONResponse.make(["ids": .array(ids.map { JSON.string($0.description) }), "status": 200])
        } catch let error as EventValidationError {
            switch error.problem {
            case .eventTooLarge, .batchTooLarge:
                throw APIError(.contentTooLarge, error.description)
            default:
                throw APIError(.badRequest, error.description)
            }
        } catch let error as EventIDSeedConflict {
            throw APIError(.conflict, error.description)
        }
    }

    /// Reads a tracer's propagation fields from a request's headers.
    struct HTTPFieldsExtractor: Extractor {
        func extract(key: String, from headers: HTTPFields) -> String? {
            HTTPField.Name(key).flatMap { headers[$0] }
        }
    }

    private var tooLarge: APIError {
        APIError(.contentTooLarge, "the request body is over the limit of \(configuration.maxRequestBytes) bytes")
    }
}
