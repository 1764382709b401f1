import Foundation
import Testing
import Stepwise

@Suite("The dashboard, as stepwise dev and serve serve it")
struct DashboardCLITests {
    @Test("stepwise dev answers / with the dashboard's HTML, beside the APIs")
    func devRoot() async throws {
        let directory = try TemporaryDirectory()
        let (server, url) = try await startDevServer(database: directory.path("dev.db"))
        defer { server.stop() }
        let root = try await get("\(url)/")
        #expect(root.status == 200)
        #expect(root.headers.first(name: "content-type") == "text/html; charset=utf-8")
        #expect(root.body.contains("<h1>Events</h1>"))
        let sent = try await post("\(url)/e/any-key", #"{"name": "dashboard/cli", "data": {"note": "<b>x</b>"}}"#)
        let id = try #require(sent.ids.first)
        let page = try await get("\(url)/events/\(id)")
        #expect(page.body.contains("&lt;b&gt;x&lt;/b&gt;"))
        #expect(try await get("\(url)/nowhere").json?["status"] == 404, "other paths keep the APIs' JSON 404")
    }

    @Test("stepwise serve sends a browser without the signing key to the login page")
    func serveNeedsKey() async throws {
        let directory = try TemporaryDirectory()
        let (server, url) = try await startDevServer(
            database: directory.path("prod.db"), arguments: ["serve"],
            environment: ["STEPWISE_EVENT_KEYS": "event-key", "STEPWISE_SIGNING_KEY": "signing-key", "STEPWISE_ENCRYPTION_KEYS": testEncryptionKeys])
        defer { server.stop() }
        // The client follows the 303 to the login page.
        let anonymous = try await get("\(url)/events")
        #expect(anonymous.body.contains("<h1>Sign in</h1>"))
        #expect(!anonymous.body.contains("<h1>Events</h1>"))
        let signed = try await get("\(url)/events", headers: [("Authorization", "Bearer signing-key")])
        #expect(signed.status == 200)
    }
}
