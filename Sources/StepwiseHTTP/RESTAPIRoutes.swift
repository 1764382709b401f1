import Foundation
import HTTPTypes
import Hummingbird
import Stepwise

/// The REST API under `/v1`: events, runs and their steps, cancelling and rerunning runs,
/// and the functions apps registered, and invoking them.
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
        router.get("events/:id/admissions") { request, context in
            JSONResponse.make(try await self.queries(request).admissions(ofEvent: context.parameters.get("id") ?? ""))
        }
        router.get("runs") { request, _ in try await self.listRuns(request) }
        router.get("runs/:id") { request, context in try await self.run(request, id: context.parameters.get("id")) }
        router.post("runs/:id/cancel") { request, context in try await self.cancel(request, id: context.parameters.get("id")) }
        router.post("runs/:id/rerun") { request, context in try await self.rerun(request, id: context.parameters.get("id")) }
        router.get("functions") { request, _ in JSONResponse.make(try await self.queries(request).functions()) }
        // A function id may hold any character but whitespace, `/` included: it comes
        // percent-encoded as one segment, and Hummingbird hands it over still encoded.
        router.post("functions/:id/invoke") { request, context in
            let segment = context.parameters.get("id")
            return try await self.invoke(request, id: segment.map { $0.removingPercentEncoding ?? $0 })
        }
    }

    /// `POST /v1/functions/{id}/invoke` with `{"data": {…}, "app_id": "…"}` (both optional):
    /// a new run of the function, answered 201 with the run, whose event is its
    /// `stepwise/function.invoked`.
    func invoke(_ request: Request, id: String?) async throws -> Response {
        let queries = try await queries(request)
        let bytes = try await request.body.collect(upTo: configuration.maxRequestBytes)
        var body: JSON?
        if bytes.readableBytes > 0 {
            do {
                body = try JSON(parsing: bytes.readableBytesView)
            } catch {
                throw APIError(.badRequest, "the body is not JSON: \(error)")
            }
        }
        let invocation = try RecordQueries.invocation(fromBody: body)
        return JSONResponse.make(try await queries.invoke(function: id ?? "", app: invocation.app, data: invocation.data), status: .created)
    }

    func listEvents(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        return JSONResponse.make(try await queries(request).events(
            name: query["name"].map(String.init), since: query["since"].map(String.init), until: query["until"].map(String.init),
            limit: query["limit"].map(String.init), cursor: query["cursor"].map(String.init)))
    }

    func event(_ request: Request, id: String?) async throws -> Response {
        JSONResponse.make(try await queries(request).event(id ?? ""))
    }

    func runsOfEvent(_ request: Request, id: String?) async throws -> Response {
        JSONResponse.make(try await queries(request).runs(ofEvent: id ?? ""))
    }

    func listRuns(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        return JSONResponse.make(try await queries(request).runs(
            function: query["function"].map(String.init), status: query["status"].map(String.init),
            limit: query["limit"].map(String.init), cursor: query["cursor"].map(String.init)))
    }

    func run(_ request: Request, id: String?) async throws -> Response {
        JSONResponse.make(try await queries(request).run(id ?? ""))
    }

    func cancel(_ request: Request, id: String?) async throws -> Response {
        JSONResponse.make(try await queries(request).cancel(id ?? ""))
    }

    func rerun(_ request: Request, id: String?) async throws -> Response {
        JSONResponse.make(try await queries(request).rerun(id ?? ""), status: .created)
    }

    // MARK: Access

    /// The operations on the request's environment, once its signing key is checked.
    private func queries(_ request: Request) async throws -> RecordQueries {
        if !configuration.isDevelopment {
            guard let authorization = request.headers[.authorization] else {
                throw APIError(.unauthorized, "a signing key is required: send Authorization: Bearer <signing key>")
            }
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer", configuration.signingKeys.contains(String(parts[1]).trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw APIError(.unauthorized, "signing key not accepted")
            }
        }
        let environment = try await environments.environment(forHeader: request.headers[EventAPIRoutes.environmentHeader])
        return RecordQueries(client: clients.client(for: environment), maxPageBytes: configuration.maxPageBytes)
    }
}
