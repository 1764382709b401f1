import HTTPTypes
import Hummingbird
import Stepwise

/// The REST API under `/v1`: events, runs and their steps, cancelling and rerunning runs.
/// Every answer is `{"data": …}`; a listing adds `"cursor"`, the value that fetches the next
/// (older) page, or `null` on the last page.
struct RESTAPIRoutes: Sendable {
    let clients: EnvironmentClients
    let configuration: StepwiseHTTPConfiguration
    let environments: EnvironmentGate

    func register<Context: RequestContext>(on router: RouterGroup<Context>) {
        router.get("events") { request, _ in try await self.listEvents(request) }
        router.get("events/:id") { request, context in try await self.event(request, id: context.parameters.get("id")) }
        router.get("events/:id/runs") { request, context in try await self.runsOfEvent(request, id: context.parameters.get("id")) }
        router.get("runs") { request, _ in try await self.listRuns(request) }
        router.get("runs/:id") { request, context in try await self.run(request, id: context.parameters.get("id")) }
        router.post("runs/:id/cancel") { request, context in try await self.cancel(request, id: context.parameters.get("id")) }
        router.post("runs/:id/rerun") { request, context in try await self.rerun(request, id: context.parameters.get("id")) }
    }

    // MARK: Events

    func listEvents(_ request: Request) async throws -> Response {
        let client = try await authorizedClient(request)
        let query = request.uri.queryParameters
        var cursor: EventCursor?
        if let text = query["cursor"] {
            guard let parsed = EventCursor(rawValue: String(text)) else { throw APIError(.badRequest, "cursor: not a cursor this API gave") }
            cursor = parsed
        }
        let page: EventPage
        do {
            page = try await client.events(
                named: query["name"].map(String.init), since: try time(query, "since"), until: try time(query, "until"),
                limit: try limit(query), cursor: cursor)
        } catch let error as EventQueryError {
            throw APIError(.badRequest, error.description)
        }
        return JSONResponse.make([
            "data": .array(page.events.map(RESTRepresentation.event)), "cursor": page.nextCursor.map { .string($0.rawValue) } ?? .null,
        ])
    }

    func event(_ request: Request, id: String?) async throws -> Response {
        let client = try await authorizedClient(request)
        let id = try eventID(id)
        guard let event = try await client.event(id: id) else { throw APIError(.notFound, "no event \(id) in this environment") }
        return JSONResponse.make(["data": RESTRepresentation.event(event)])
    }

    func runsOfEvent(_ request: Request, id: String?) async throws -> Response {
        let client = try await authorizedClient(request)
        let id = try eventID(id)
        guard try await client.event(id: id) != nil else { throw APIError(.notFound, "no event \(id) in this environment") }
        let runs = try await client.runs(event: id, limit: 1000)
        return JSONResponse.make(["data": .array(runs.map { RESTRepresentation.run($0) })])
    }

    // MARK: Runs

    func listRuns(_ request: Request) async throws -> Response {
        let client = try await authorizedClient(request)
        let query = request.uri.queryParameters
        var status: RunStatus?
        if let text = query["status"] {
            guard let parsed = RunStatus(rawValue: String(text)) else {
                throw APIError(.badRequest, "status: must be one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
            }
            status = parsed
        }
        var before: RunID?
        if let text = query["cursor"] {
            guard let parsed = RunID(text) else { throw APIError(.badRequest, "cursor: not a cursor this API gave") }
            before = parsed
        }
        let limit = try limit(query)
        let page = try await client.runPage(function: query["function"].map(String.init), status: status, limit: limit, before: before)
        return JSONResponse.make([
            "data": .array(page.runs.map { RESTRepresentation.run($0) }), "cursor": page.nextCursor.map { .string($0.description) } ?? .null,
        ])
    }

    func run(_ request: Request, id: String?) async throws -> Response {
        let client = try await authorizedClient(request)
        let id = try runID(id)
        guard let run = try await client.run(id: id) else { throw APIError(.notFound, "no run \(id) in this environment") }
        let steps = try await client.steps(ofRun: id)
        return JSONResponse.make(["data": RESTRepresentation.run(run, steps: steps)])
    }

    func cancel(_ request: Request, id: String?) async throws -> Response {
        let client = try await authorizedClient(request)
        let id = try runID(id)
        guard try await client.run(id: id) != nil else { throw APIError(.notFound, "no run \(id) in this environment") }
        let cancelled = try await client.cancelRun(id)
        guard let run = try await client.run(id: id) else { throw APIError(.notFound, "no run \(id) in this environment") }
        guard cancelled else { throw APIError(.conflict, "run \(id) had already ended: \(run.status.rawValue)") }
        return JSONResponse.make(["data": RESTRepresentation.run(run)])
    }

    func rerun(_ request: Request, id: String?) async throws -> Response {
        let client = try await authorizedClient(request)
        let id = try runID(id)
        do {
            guard let run = try await client.rerun(id) else { throw APIError(.notFound, "no run \(id) in this environment") }
            return JSONResponse.make(["data": RESTRepresentation.run(run)], status: .created)
        } catch let error as RerunError {
            throw APIError(.conflict, error.description)
        }
    }

    // MARK: Parameters

    /// The client of the request's environment, once its signing key is checked.
    private func authorizedClient(_ request: Request) async throws -> StepwiseClient {
        if !configuration.isDevelopment {
            guard let authorization = request.headers[.authorization] else {
                throw APIError(.unauthorized, "a signing key is required: send Authorization: Bearer <signing key>")
            }
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer", configuration.signingKeys.contains(String(parts[1]).trimmingWhitespace) else {
                throw APIError(.unauthorized, "signing key not accepted")
            }
        }
        let environment = try await environments.environment(forHeader: request.headers[EventAPIRoutes.environmentHeader])
        return clients.client(for: environment)
    }

    private func limit(_ query: Parameters) throws -> Int {
        guard let text = query["limit"] else { return 50 }
        guard let limit = Int(text), (1...EventQuery.maximumLimit).contains(limit) else {
            throw APIError(.badRequest, "limit: must be a whole number from 1 to \(EventQuery.maximumLimit), not '\(text)'")
        }
        return limit
    }

    private func time(_ query: Parameters, _ name: String) throws -> Int64? {
        guard let text = query[Substring(name)] else { return nil }
        guard let time = RESTRepresentation.parseTime(String(text)) else {
            throw APIError(.badRequest, "\(name): must be milliseconds since the Unix epoch or an RFC 3339 time, not '\(text)'")
        }
        return time
    }

    private func eventID(_ text: String?) throws -> EventID {
        guard let text, let id = EventID(text) else { throw APIError(.badRequest, "'\(text ?? "")' is not an event id (a ULID)") }
        return id
    }

    private func runID(_ text: String?) throws -> RunID {
        guard let text, let id = RunID(text) else { throw APIError(.badRequest, "'\(text ?? "")' is not a run id (a ULID)") }
        return id
    }
}
