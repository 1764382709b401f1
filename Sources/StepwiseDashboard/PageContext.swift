import Foundation
import Stepwise

/// What every page of one request needs: where the dashboard is mounted, the environment the
/// request addresses, how it was let in (for the forms' CSRF token), and the time it is read.
struct PageContext: Sendable {
    /// The dashboard's path from the server's root, without a trailing slash (`""` at the root).
    let base: String
    /// The environment the request addresses (`env`).
    let environment: String
    /// Whether `environment` is the served client's own (then links carry no `env`).
    let isServedEnvironment: Bool
    let access: DashboardSecurity.Access
    let csrfToken: String
    let isDevelopment: Bool
    /// When the request is served, in milliseconds since the epoch.
    let now: Int64

    /// The URL of a page of the dashboard, with the request's environment and `query`
    /// (empty values left out), percent-encoded.
    func link(_ path: String, _ query: [(String, String?)] = []) -> String {
        var items = query.compactMap { name, value in value.flatMap { $0.isEmpty ? nil : (name, $0) } }
        if !isServedEnvironment { items.insert(("env", environment), at: 0) }
        let root = base + "/" + path
        guard !items.isEmpty else { return root }
        return root + "?" + items.map { "\(Self.encode($0))=\(Self.encode($1))" }.joined(separator: "&")
    }

    /// How often a live region fetches itself again, in milliseconds: often on a development
    /// server, less often outside it, where many browsers may share one production store (what
    /// Inngest's dashboard does too: 400 ms in dev, 10 s in serve mode).
    var liveInterval: Int { isDevelopment ? 1500 : 5000 }

    /// The hidden fields every form carries: its CSRF token and the environment.
    var formFields: HTML {
        let env: HTML = isServedEnvironment ? .empty : "<input type=\"hidden\" name=\"env\" value=\"\(environment)\">"
        return "<input type=\"hidden\" name=\"\(DashboardSecurity.csrfField)\" value=\"\(csrfToken)\">\(env)"
    }

    /// `value` percent-encoded for a query string: everything but unreserved characters.
    static func encode(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
