import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import StepwiseHTTP

/// Who may see the dashboard and change things through it.
///
/// - In development mode every request is let in, as the dev server listens on 127.0.0.1.
/// - Otherwise a request needs the signing key: as a bearer (`Authorization: Bearer <key>`),
///   or a session cookie that the login form sets once the key was typed in (HttpOnly, so no
///   script reads it; SameSite=Strict, so no other site's page sends it). A session is a time
///   and its HMAC under a key drawn at start-up: nothing is kept per session, and a restart
///   ends every session.
/// - Every POST carries a CSRF token (a hidden field; an HMAC of the session, so another
///   site cannot know it) and, when the browser sends one, an `Origin` of this host and a
///   `Sec-Fetch-Site` of `same-origin`; a bearer request needs no token (a page of another
///   site cannot set that header without this server's consent).
struct DashboardSecurity: Sendable {
    /// The session cookie's name.
    static let cookieName = "stepwise_dashboard"
    /// The CSRF token's form field.
    static let csrfField = "_csrf"
    /// How long a session lasts, in seconds.
    static let sessionSeconds: Int64 = 12 * 3600

    let isDevelopment: Bool
    let signingKeys: SecretKeys
    /// Drawn at start-up; signs sessions and CSRF tokens.
    private let key: SymmetricKey

    init(isDevelopment: Bool, signingKeys: SecretKeys) {
        self.isDevelopment = isDevelopment
        self.signingKeys = signingKeys
        self.key = SymmetricKey(size: .bits256)
    }

    /// How a request was let in.
    enum Access: Sendable, Equatable {
        /// Development mode: no login.
        case development
        /// The signing key as a bearer.
        case bearer
        /// A session cookie.
        case session(String)
        /// Not let in.
        case none
    }

    func access(_ request: Request) -> Access {
        if isDevelopment { return .development }
        if let authorization = request.headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer",
                signingKeys.contains(String(parts[1]).trimmingCharacters(in: .whitespaces)) {
                return .bearer
            }
        }
        if let session = Self.cookie(Self.cookieName, in: request), isValidSession(session) {
            return .session(session)
        }
        return .none
    }

    /// A new session's cookie value.
    func newSession(now: Int64 = Int64(Date().timeIntervalSince1970)) -> String {
        "\(now).\(mac("session:\(now)"))"
    }

    func isValidSession(_ value: String, now: Int64 = Int64(Date().timeIntervalSince1970)) -> Bool {
        let parts = value.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let issued = Int64(parts[0]), issued <= now + 60, now - issued < Self.sessionSeconds else { return false }
        return Self.constantTimeEqual(String(parts[1]), mac("session:\(issued)"))
    }

    /// The CSRF token of the forms a request with this access gets.
    func csrfToken(for access: Access) -> String {
        switch access {
        case .session(let session): return mac("csrf:" + session)
        case .development, .bearer, .none: return mac("csrf:anonymous")
        }
    }

    /// Why a POST is refused, or `nil` when it may go on: its origin, then its token.
    func refusal(ofPost request: Request, access: Access, form: [String: String]) -> String? {
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site != "same-origin", site != "none" {
            return "refused: the form was sent from another site (Sec-Fetch-Site: \(site))"
        }
        if let origin = request.headers[HTTPField.Name("Origin")!] {
            let host = request.head.authority ?? ""  // HTTP/1's Host header, as NIOHTTPTypes reads it
            guard let url = URL(string: origin), let originHost = url.host else {
                return "refused: the form's Origin (\(origin)) is not this server"
            }
            let originAuthority = url.port.map { "\(originHost):\($0)" } ?? originHost
            guard originAuthority.lowercased() == host.lowercased() else {
                return "refused: the form's Origin (\(origin)) is not this server (\(host))"
            }
        }
        if access == .bearer { return nil }
        guard let token = form[Self.csrfField], Self.constantTimeEqual(token, csrfToken(for: access)) else {
            return "refused: the form has no valid CSRF token; reload the page and send it again"
        }
        return nil
    }

    private func mac(_ message: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: key).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for (p, q) in zip(x, y) { difference |= p ^ q }
        return difference == 0
    }

    /// The value of cookie `name`, if the request sends it.
    static func cookie(_ name: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }
}
