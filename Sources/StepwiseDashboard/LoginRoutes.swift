import HTTPTypes
import Hummingbird
import Logging

/// Signing in outside development mode: a form that takes the signing key and answers with a
/// session cookie (HttpOnly, SameSite=Strict, for the dashboard's path only).
extension DashboardRoutes {
    func loginPage(_ request: Request, base: String, error: String? = nil, status: HTTPResponse.Status = .ok) async -> Response {
        let access = security.access(request)
        if access != .none, error == nil { return Self.redirect(base.isEmpty ? "/" : base) }
        let page = PageContext(
            base: base, environment: client.configuration.environment, isServedEnvironment: true, access: .none,
            csrfToken: security.csrfToken(for: .none), isDevelopment: false, now: 0)
        let notice = error.map { Layout.Notice(text: $0, isError: true) }
        let body: HTML = """
            <h1>Sign in</h1>
            <p>This dashboard needs the server's signing key (<code>STEPWISE_SIGNING_KEY</code>).</p>
            <form method="post" action="\(base)/login">\(page.formFields)
            <label>Signing key <input type="password" name="key" autocomplete="current-password" required></label>
            <button type="submit">Sign in</button>
            </form>
            """
        return Self.html(Layout.page("Sign in", page, notice: notice, body), status: status)
    }

    func login<Context: RequestContext>(_ request: Request, context: Context, base: String) async -> Response {
        guard let body = try? await request.body.collect(upTo: 64 << 10) else {
            return await loginPage(request, base: base, error: "The form is too large.", status: .contentTooLarge)
        }
        let form = FormBody.parse(String(buffer: body))
        if let refusal = security.refusal(ofPost: request, access: .none, form: form) {
            context.logger.notice("dashboard: refused a login", metadata: ["reason": "\(refusal)"])
            return await loginPage(request, base: base, error: refusal, status: .forbidden)
        }
        guard let key = form["key"], !security.signingKeys.isEmpty, security.signingKeys.contains(key) else {
            context.logger.notice("dashboard: sign-in refused: signing key not accepted")
            return await loginPage(request, base: base, error: "Signing key not accepted.", status: .unauthorized)
        }
        context.logger.info("dashboard: signed in")
        // Secure when the request came over TLS (directly, or through a proxy that says so), so
        // the browser never sends the session over plain HTTP; the dev server on 127.0.0.1 has none.
        let overTLS = request.head.scheme == "https" || request.headers[HTTPField.Name("X-Forwarded-Proto")!] == "https"
        let cookie = "\(DashboardSecurity.cookieName)=\(security.newSession()); Path=\(base.isEmpty ? "/" : base); HttpOnly; SameSite=Strict; Max-Age=\(DashboardSecurity.sessionSeconds)\(overTLS ? "; Secure" : "")"
        return Self.redirect(base.isEmpty ? "/" : base, headers: [.setCookie: cookie])
    }
}
