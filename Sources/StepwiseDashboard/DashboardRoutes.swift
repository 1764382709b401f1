import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Stepwise
import StepwiseHTTP

/// The dashboard's routes: each checks access, resolves the environment, and renders a page
/// or carries out an action. No route throws to the router: an error is a page of its own
/// (HTML, with its status), so that the APIs' JSON error middleware, when it sits on the
/// same router, never answers a browser with JSON.
struct DashboardRoutes: Sendable {
    let client: StepwiseClient
    let configuration: StepwiseHTTPConfiguration
    let security: DashboardSecurity

    /// The largest form body read: a sent event's JSON and the form's fields.
    var maxFormBytes: Int { configuration.maxRequestBytes }

    func register<Context: RequestContext>(on router: RouterGroup<Context>, base: String) {
        router.get("assets/dashboard.css") { request, _ in
            Self.asset(DashboardAssets.stylesheet, type: "text/css; charset=utf-8", etag: DashboardAssets.stylesheetETag, request: request)
        }
        router.get("assets/dashboard.js") { request, _ in
            Self.asset(DashboardAssets.script, type: "text/javascript; charset=utf-8", etag: DashboardAssets.scriptETag, request: request)
        }
        router.get("login") { request, context in await self.loginPage(request, base: base) }
        router.post("login") { request, context in await self.login(request, context: context, base: base) }
        router.post("logout") { request, context in await self.action(request, context: context, base: base) { page, _ in
            context.logger.info("dashboard: signed out")
            var response = Self.redirect(base + "/login")
            response.headers[.setCookie] = "\(DashboardSecurity.cookieName)=; Path=\(base.isEmpty ? "/" : base); HttpOnly; SameSite=Strict; Max-Age=0"
            return response
        } }

        router.get("") { request, context in await self.page(request, context: context, base: base) { page, query in
            try await self.eventsPage(page, query)
        } }
        router.get("events") { request, context in await self.page(request, context: context, base: base) { page, query in
            try await self.eventsPage(page, query)
        } }
        router.get("events/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            return await self.page(request, context: context, base: base) { page, query in try await self.eventPage(page, id: id) }
        }
        router.get("runs") { request, context in await self.page(request, context: context, base: base) { page, query in
            try await self.runsPage(page, query)
        } }
        router.get("runs/bulk") { request, context in await self.page(request, context: context, base: base) { page, query in
            try await self.bulkConfirmation(page, query)
        } }
        router.post("runs/bulk") { request, context in await self.action(request, context: context, base: base) { page, form in
            try await self.bulk(page, form, logger: context.logger)
        } }
        router.get("runs/:id") { request, context in
            let id = context.parameters.get("id") ?? ""
            return await self.page(request, context: context, base: base) { page, query in try await self.runPage(page, id: id, query) }
        }
        router.post("runs/:id/cancel") { request, context in
            let id = context.parameters.get("id") ?? ""
            return await self.action(request, context: context, base: base) { page, _ in try await self.cancel(page, id: id, logger: context.logger) }
        }
        router.post("runs/:id/rerun") { request, context in
            let id = context.parameters.get("id") ?? ""
            return await self.action(request, context: context, base: base) { page, _ in try await self.rerun(page, id: id, logger: context.logger) }
        }
        router.get("functions") { request, context in await self.page(request, context: context, base: base) { page, _ in
            try await self.functionsPage(page)
        } }
        // A function id may hold any character but whitespace: its links percent-encode it
        // as one path segment, and Hummingbird hands the segment over still encoded.
        router.get("functions/:id") { request, context in
            let id = Self.decoded(context.parameters.get("id"))
            return await self.page(request, context: context, base: base) { page, query in try await self.functionPage(page, id: id, query) }
        }
        router.post("functions/:id/invoke") { request, context in
            let id = Self.decoded(context.parameters.get("id"))
            return await self.action(request, context: context, base: base) { page, form in
                try await self.invoke(page, id: id, form, logger: context.logger)
            }
        }
        router.get("environments") { request, context in await self.page(request, context: context, base: base) { page, _ in
            try await self.environmentsPage(page)
        } }
        router.get("send") { request, context in await self.page(request, context: context, base: base) { page, _ in
            self.sendPage(page, text: SendForm.example, error: nil, status: .ok)
        } }
        router.post("send") { request, context in await self.action(request, context: context, base: base) { page, form in
            try await self.send(page, form, logger: context.logger)
        } }
    }

    // MARK: Pages and actions

    /// A GET page: let in, its environment resolved, rendered; an error is its own page.
    private func page<Context: RequestContext>(
        _ request: Request, context: Context, base: String, _ render: (PageContext, [String: String]) async throws -> Response
    ) async -> Response {
        let access = security.access(request)
        if access == .none { return Self.redirect(base + "/login") }
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters where query[String(name)] == nil { query[String(name)] = String(value) }
        do {
            let page = try await pageContext(base: base, access: access, environment: query["env"])
            do {
                return try await render(page, query)
            } catch let error as DashboardError {
                return Self.errorPage(error, page)
            } catch {
                context.logger.error("dashboard: page failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
                return Self.errorPage(DashboardError(.internalServerError, "The page could not be read; the server's log has the details."), page)
            }
        } catch let error as DashboardError {
            return Self.errorPage(error, fallbackContext(base: base, access: access))
        } catch {
            return Self.errorPage(DashboardError(.internalServerError, "internal error"), fallbackContext(base: base, access: access))
        }
    }

    /// A POST action: let in, its form read and checked (CSRF token, origin), carried out.
    private func action<Context: RequestContext>(
        _ request: Request, context: Context, base: String, _ perform: (PageContext, [String: String]) async throws -> Response
    ) async -> Response {
        let access = security.access(request)
        let fallback = fallbackContext(base: base, access: access)
        if access == .none {
            context.logger.notice("dashboard: refused a POST without a signing key", metadata: ["path": "\(request.uri.path)"])
            return Self.errorPage(DashboardError(.unauthorized, "Sign in with the signing key first."), fallback)
        }
        let form: [String: String]
        do {
            let body = try await request.body.collect(upTo: maxFormBytes)
            form = FormBody.parse(String(buffer: body))
        } catch {
            return Self.errorPage(DashboardError(.contentTooLarge, "The form is over the limit of \(maxFormBytes) bytes."), fallback)
        }
        if let refusal = security.refusal(ofPost: request, access: access, form: form) {
            context.logger.notice("dashboard: refused a POST", metadata: ["path": "\(request.uri.path)", "reason": "\(refusal)"])
            return Self.errorPage(DashboardError(.forbidden, refusal), fallback)
        }
        do {
            let page = try await pageContext(base: base, access: access, environment: form["env"])
            do {
                return try await perform(page, form)
            } catch let error as DashboardError {
                return Self.errorPage(error, page)
            } catch {
                context.logger.error("dashboard: action failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
                return Self.errorPage(DashboardError(.internalServerError, "The action failed; the server's log has the details."), page)
            }
        } catch let error as DashboardError {
            return Self.errorPage(error, fallback)
        } catch {
            return Self.errorPage(DashboardError(.internalServerError, "internal error"), fallback)
        }
    }

    private func pageContext(base: String, access: DashboardSecurity.Access, environment requested: String?) async throws -> PageContext {
        let served = client.configuration.environment
        var environment = served
        if let requested, !requested.isEmpty, !EnvironmentName.same(requested, served) {
            do {
                try EnvironmentName.validate(requested)
            } catch {
                throw DashboardError(.badRequest, "env: \(error)")
            }
            if !configuration.isDevelopment, !configuration.environments.contains(requested), try await !client.store.environmentExists(requested) {
                throw DashboardError(.notFound, "Environment '\(requested)' is neither configured nor in use.")
            }
            environment = requested
        }
        return PageContext(
            base: base, environment: environment, isServedEnvironment: environment == served, access: access,
            csrfToken: security.csrfToken(for: access), isDevelopment: configuration.isDevelopment,
            now: client.configuration.clock.now())
    }

    private func fallbackContext(base: String, access: DashboardSecurity.Access) -> PageContext {
        PageContext(
            base: base, environment: client.configuration.environment, isServedEnvironment: true, access: access,
            csrfToken: security.csrfToken(for: access), isDevelopment: configuration.isDevelopment,
            now: client.configuration.clock.now())
    }

    /// A client for the page's environment: the served one, or one with no functions on the
    /// same store (what the REST API does for `x-inngest-env`).
    func client(for page: PageContext) -> StepwiseClient {
        if page.isServedEnvironment { return client }
        var configuration = client.configuration
        configuration.environment = page.environment
        return client.inEnvironment(configuration)
    }

    /// A path segment as it was before percent-encoding.
    static func decoded(_ segment: String?) -> String {
        guard let segment else { return "" }
        return segment.removingPercentEncoding ?? segment
    }

    // MARK: Responses

    /// Headers of every page: the script and stylesheet of this server only, no framing, no
    /// inline script, so that even markup that slipped through escaping could not run.
    static let securityHeaders: [(HTTPField.Name, String)] = [
        (.contentSecurityPolicy, "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        (HTTPField.Name("X-Content-Type-Options")!, "nosniff"),
        (HTTPField.Name("Referrer-Policy")!, "same-origin"),
        (.cacheControl, "no-store"),
    ]

    static func html(_ html: HTML, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8"]
        for (name, value) in securityHeaders { headers[name] = value }
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html.description)))
    }

    /// A 303 See Other: the answer to a form POST, so a reload does not send it again.
    static func redirect(_ location: String, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.location: location, .cacheControl: "no-store"]
        headers.append(contentsOf: extra)
        return Response(status: .seeOther, headers: headers)
    }

    static func errorPage(_ error: DashboardError, _ page: PageContext) -> Response {
        let body: HTML = """
            <h1>\(error.status.code) \(error.status.reasonPhrase)</h1>
            <p class="notice error" role="alert">\(error.message)</p>
            """
        return html(Layout.page("\(error.status.code)", page, body), status: error.status)
    }

    static func asset(_ text: String, type: String, etag: String, request: Request) -> Response {
        if request.headers[.ifNoneMatch] == etag {
            return Response(status: .notModified, headers: [.eTag: etag])
        }
        return Response(
            status: .ok, headers: [.contentType: type, .eTag: etag, .cacheControl: "no-cache"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
