import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import InMemoryLogging
import Logging
import NIOCore
import Stepwise
import Testing

@Suite("Dashboard actions and access")
struct DashboardActionTests {
    @Test("a POST without the CSRF token, or from another origin, is refused and changes nothing")
    func csrf() async throws {
        let harness = try DashboardHarness()
        try await harness.client.registerFunctions()
        _ = try await harness.client.send(Event(name: "app/nap", data: [:]))
        try await harness.drain()
        let run = try #require(try await harness.client.runs(function: "nap").first)
        try await harness.app().test(.router) { client in
            let token = try #require(csrfToken(in: try await client.execute(uri: "/runs/\(run.id)", method: .get).text))
            try await client.execute(uri: "/runs/\(run.id)/cancel", method: .post, headers: formHeaders, body: form([])) { response in
                #expect(response.status == .forbidden)
                #expect(response.text.contains("no valid CSRF token"))
            }
            try await client.execute(uri: "/runs/\(run.id)/cancel", method: .post, headers: formHeaders, body: form([("_csrf", "forged")])) { response in
                #expect(response.status == .forbidden)
            }
            var crossSite = formHeaders
            crossSite[.origin] = "http://evil.example"
            try await client.execute(uri: "/runs/\(run.id)/cancel", method: .post, headers: crossSite, body: form([("_csrf", token)])) { response in
                #expect(response.status == .forbidden)
                #expect(response.text.contains("is not this server"))
            }
            var fetchSite = formHeaders
            fetchSite[HTTPField.Name("Sec-Fetch-Site")!] = "cross-site"
            try await client.execute(uri: "/runs/\(run.id)/cancel", method: .post, headers: fetchSite, body: form([("_csrf", token)])) { response in
                #expect(response.status == .forbidden)
            }
            #expect(try await harness.client.run(id: run.id)?.status == .sleeping)

            var sameSite = formHeaders
            sameSite[.origin] = "http://localhost"
            try await client.execute(uri: "/runs/\(run.id)/cancel", method: .post, headers: sameSite, body: form([("_csrf", token)])) { response in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/runs/\(run.id)?done=cancelled")
            }
            #expect(try await harness.client.run(id: run.id)?.status == .cancelled)
            try await client.execute(uri: "/runs/\(run.id)/cancel", method: .post, headers: formHeaders, body: form([("_csrf", token)])) { response in
                #expect(response.headers[.location] == "/runs/\(run.id)?done=ended")
            }
        }
    }

    @Test("a failed run is rerun from its page, and the rerun's page names the first")
    func rerun() async throws {
        let harness = try DashboardHarness()
        try await harness.client.registerFunctions()
        _ = try await harness.client.send(Event(name: "app/fail", data: [:]))
        try await harness.drain()
        let failed = try #require(try await harness.client.runs(function: "fail").first)
        #expect(failed.status == .failed)
        try await harness.app().test(.router) { client in
            let page = try await client.execute(uri: "/runs/\(failed.id)", method: .get)
            #expect(page.text.contains("NonRetriableError") || page.text.contains("boom"))
            let token = try #require(csrfToken(in: page.text))
            let answer = try await client.execute(uri: "/runs/\(failed.id)/rerun", method: .post, headers: formHeaders, body: form([("_csrf", token)]))
            #expect(answer.status == .seeOther)
            let location = try #require(answer.headers[.location])
            let rerun = try await client.execute(uri: location, method: .get)
            #expect(rerun.text.contains("queued as a rerun of \(failed.id)"))
            #expect(rerun.text.contains("data-status=\"queued\""))
        }
    }

    @Test("the send form stores a valid event and answers a bad one with the Event API's error")
    func send() async throws {
        let harness = try DashboardHarness()
        try await harness.app().test(.router) { client in
            let token = try #require(csrfToken(in: try await client.execute(uri: "/send", method: .get).text))
            let bad = try await client.execute(uri: "/send", method: .post, headers: formHeaders, body: form([("_csrf", token), ("event", #"{"name": "x"}"#)]))
            #expect(bad.status == .badRequest)
            #expect(bad.text.contains("data"), "names the field: \(bad.text)")
            #expect(bad.text.contains("&quot;name&quot;: &quot;x&quot;") || bad.text.contains("{&quot;name&quot;: &quot;x&quot;}"), "keeps what was typed")
            let malformed = try await client.execute(uri: "/send", method: .post, headers: formHeaders, body: form([("_csrf", token), ("event", "{")]))
            #expect(malformed.status == .badRequest)
            let good = try await client.execute(
                uri: "/send", method: .post, headers: formHeaders,
                body: form([("_csrf", token), ("event", #"{"name": "app/sent", "data": {"html": "<b>bold</b>"}}"#)]))
            #expect(good.status == .seeOther)
            let location = try #require(good.headers[.location])
            let shown = try await client.execute(uri: location, method: .get)
            #expect(shown.text.contains("app/sent"))
            #expect(shown.text.contains("&lt;b&gt;bold&lt;/b&gt;"))
        }
        #expect(try await harness.client.events(named: "app/sent").events.count == 1)
        #expect(try await harness.client.events(named: "x").events.isEmpty)
    }

    @Test("bulk cancel shows the count first, then cancels the runs the filter selects")
    func bulkCancel() async throws {
        let harness = try DashboardHarness()
        try await harness.client.registerFunctions()
        for _ in 0..<4 { _ = try await harness.client.send(Event(name: "app/nap", data: [:])) }
        _ = try await harness.client.send(Event(name: "app/greet", data: ["name": "Ada"]))
        try await harness.drain()
        try await harness.app().test(.router) { client in
            let confirmation = try await client.execute(uri: "/runs/bulk?action=cancel&function=nap", method: .get)
            #expect(confirmation.text.contains("<strong id=\"bulk-count\">4</strong>"))
            let token = try #require(csrfToken(in: confirmation.text))
            let done = try await client.execute(
                uri: "/runs/bulk", method: .post, headers: formHeaders,
                body: form([("_csrf", token), ("action", "cancel"), ("function", "nap"), ("expected", "4")]))
            #expect(done.status == .seeOther)
            #expect(done.headers[.location] == "/runs?function=nap&done=bulk-cancelled&n=4")
        }
        #expect(try await harness.client.runs(status: .cancelled).count == 4)
        #expect(try await harness.client.runs(function: "greet").first?.status == .completed)
    }

    @Test("bulk rerun shows the count first, then queues a rerun of each run the filter selects, and says how many")
    func bulkRerun() async throws {
        let harness = try DashboardHarness()
        try await harness.client.registerFunctions()
        for _ in 0..<3 { _ = try await harness.client.send(Event(name: "app/fail", data: [:])) }
        _ = try await harness.client.send(Event(name: "app/greet", data: ["name": "Ada"]))
        try await harness.drain()
        let failed = try await harness.client.runs(status: .failed)
        #expect(failed.count == 3)
        try await harness.app().test(.router) { client in
            let confirmation = try await client.execute(uri: "/runs/bulk?action=rerun&status=failed", method: .get)
            #expect(confirmation.text.contains("<strong id=\"bulk-count\">3</strong>"))
            #expect(try await harness.client.runs(status: .queued).isEmpty, "the confirmation changes nothing")
            let token = try #require(csrfToken(in: confirmation.text))
            let unsigned = try await client.execute(
                uri: "/runs/bulk", method: .post, headers: formHeaders, body: form([("action", "rerun"), ("status", "failed")]))
            #expect(unsigned.status == .forbidden)
            let done = try await client.execute(
                uri: "/runs/bulk", method: .post, headers: formHeaders,
                body: form([("_csrf", token), ("action", "rerun"), ("status", "failed"), ("expected", "3")]))
            #expect(done.status == .seeOther)
            #expect(done.headers[.location] == "/runs?status=failed&done=bulk-rerun&n=3")
            let shown = try await client.execute(uri: try #require(done.headers[.location]), method: .get)
            #expect(shown.text.contains("Queued 3 reruns."))
        }
        let reruns = try await harness.client.runs(status: .queued)
        #expect(Set(reruns.compactMap(\.rerunOf)) == Set(failed.map(\.id)))
    }

    @Test("outside development mode the dashboard needs the signing key: bearer, or the login form's cookie")
    func login() async throws {
        let harness = try DashboardHarness()
        _ = try await harness.client.send(Event(name: "app/secret", data: ["card": "4242"]))
        try await harness.app(development: false).test(.router) { client in
            try await client.execute(uri: "/events", method: .get) { response in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/login")
                #expect(!response.text.contains("4242"))
            }
            try await client.execute(uri: "/send", method: .post, headers: formHeaders, body: form([("event", "{}")])) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/events", method: .get, headers: [.authorization: "Bearer sign-me"]) { response in
                #expect(response.status == .ok)
                #expect(response.text.contains("4242"))
            }
            try await client.execute(uri: "/events", method: .get, headers: [.authorization: "Bearer wrong"]) { response in
                #expect(response.status == .seeOther)
            }
            let loginPage = try await client.execute(uri: "/login", method: .get)
            #expect(loginPage.text.contains("type=\"password\""))
            let token = try #require(csrfToken(in: loginPage.text))
            let refused = try await client.execute(uri: "/login", method: .post, headers: formHeaders, body: form([("_csrf", token), ("key", "guess")]))
            #expect(refused.status == .unauthorized)
            #expect(refused.headers[.setCookie] == nil)
            let noToken = try await client.execute(uri: "/login", method: .post, headers: formHeaders, body: form([("key", "sign-me")]))
            #expect(noToken.status == .forbidden)
            let accepted = try await client.execute(uri: "/login", method: .post, headers: formHeaders, body: form([("_csrf", token), ("key", "sign-me")]))
            #expect(accepted.status == .seeOther)
            let cookie = try #require(accepted.headers[.setCookie])
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Strict"))
            let session = String(cookie.prefix { $0 != ";" })
            let page = try await client.execute(uri: "/events", method: .get, headers: [.cookie: session])
            #expect(page.status == .ok)
            #expect(page.text.contains("4242"))
            // The session's forms carry its own token; the anonymous one does not do.
            let sessionToken = try #require(csrfToken(in: page.text))
            #expect(sessionToken != token)
            var headers = formHeaders
            headers[.cookie] = session
            let stale = try await client.execute(uri: "/send", method: .post, headers: headers, body: form([("_csrf", token), ("event", #"{"name": "a", "data": {}}"#)]))
            #expect(stale.status == .forbidden)
            let sent = try await client.execute(uri: "/send", method: .post, headers: headers, body: form([("_csrf", sessionToken), ("event", #"{"name": "a", "data": {}}"#)]))
            #expect(sent.status == .seeOther)
            try await client.execute(uri: "/events", method: .get, headers: [.cookie: "stepwise_dashboard=1.forged"]) { response in
                #expect(response.status == .seeOther)
            }
        }
    }

    @Test("a function's page invokes it with a JSON payload: a run whose page says it was invoked, and bad JSON answered with the reason")
    func invoke() async throws {
        let harness = try DashboardHarness()
        try await harness.client.registerFunctions()
        var handler = InMemoryLogHandler()
        handler.logLevel = .info
        let logger = Logger(label: "dashboard", factory: { _ in handler })
        try await harness.app(logger: logger).test(.router) { client in
            let functions = try await client.execute(uri: "/functions", method: .get)
            #expect(functions.text.contains("href=\"/functions/greet?app=test-app\""))
            let page = try await client.execute(uri: "/functions/greet?app=test-app", method: .get)
            #expect(page.status == .ok)
            #expect(page.text.contains("name=\"data\""))
            let token = try #require(csrfToken(in: page.text))
            func post(_ fields: [(String, String)]) async throws -> TestResponse {
                try await client.execute(uri: "/functions/greet/invoke", method: .post, headers: formHeaders, body: form(fields))
            }
            let unsigned = try await post([("app", "test-app"), ("data", "{}")])
            #expect(unsigned.status == .forbidden, "no CSRF token, no run")
            let malformed = try await post([("_csrf", token), ("app", "test-app"), ("data", #"{"name": "#)])
            #expect(malformed.status == .badRequest)
            #expect(malformed.text.contains("The payload is not JSON"), "\(malformed.text)")
            #expect(malformed.text.contains("{&quot;name&quot;: "), "keeps what was typed")
            let array = try await post([("_csrf", token), ("app", "test-app"), ("data", "[1]")])
            #expect(array.status == .badRequest)
            #expect(array.text.contains("data: must be a JSON object, not an array"))
            let missing = try await client.execute(
                uri: "/functions/nobody/invoke", method: .post, headers: formHeaders, body: form([("_csrf", token), ("data", "{}")]))
            #expect(missing.status == .notFound)
            #expect(try await harness.client.runs(function: "greet").isEmpty, "nothing refused was stored")

            let done = try await post([("_csrf", token), ("app", "test-app"), ("data", #"{"name": "<script>alert(1)</script>"}"#)])
            #expect(done.status == .seeOther)
            let location = try #require(done.headers[.location])
            let run = try #require(try await harness.client.runs(function: "greet").first)
            #expect(location == "/runs/\(run.id)?done=invoked")
            let shown = try await client.execute(uri: location, method: .get)
            #expect(shown.text.contains("The function was invoked"))
            #expect(shown.text.contains("id=\"run-invoked\""))
            #expect(shown.text.contains(SystemEvent.functionInvoked))
            try await harness.drain()
            let event = try await client.execute(uri: "/events/\(run.eventID)", method: .get)
            #expect(event.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(!event.text.contains("<script>alert"))
        }
        // A function id with characters a path treats apart: one encoded segment.
        try harness.client.createFunction(id: "billing/charge?v=2#1", trigger: .invokeOnly) { _, _ in 7 }
        try await harness.client.registerFunctions()
        try await harness.app().test(.router) { client in
            let functions = try await client.execute(uri: "/functions", method: .get)
            #expect(functions.text.contains("href=\"/functions/billing%2Fcharge%3Fv%3D2%231?app=test-app\""), "\(functions.text)")
            let page = try await client.execute(uri: "/functions/billing%2Fcharge%3Fv%3D2%231?app=test-app", method: .get)
            #expect(page.status == .ok)
            #expect(page.text.contains("action=\"/functions/billing%2Fcharge%3Fv%3D2%231/invoke\""))
            let token = try #require(csrfToken(in: page.text))
            let done = try await client.execute(
                uri: "/functions/billing%2Fcharge%3Fv%3D2%231/invoke", method: .post, headers: formHeaders,
                body: form([("_csrf", token), ("app", "test-app"), ("data", "{}")]))
            #expect(done.status == .seeOther)
        }
        #expect(try await harness.client.runs(function: "billing/charge?v=2#1").count == 1)
        let ran = try #require(try await harness.client.runs(function: "greet").first)
        let logged = try #require(handler.entries.first { $0.message.description == "dashboard: invoke function" }, "recorded in the log")
        #expect(logged.metadata["run"]?.description == ran.id.description)
        #expect(ran.status == .completed)
        #expect(ran.output == "hello <script>alert(1)</script>")
    }

    @Test("the environments page lists the served one, the configured ones and every one in use on the store")
    func environments() async throws {
        let harness = try DashboardHarness()
        try await harness.client.send(Event(name: "app/greet", data: [:]))
        var branch = harness.client.configuration
        branch.environment = "feature-x"
        try await StepwiseClient(id: "test-app", store: harness.store, configuration: branch, logger: quietLogger()).send(Event(name: "a"))
        try await harness.app().test(.router) { client in
            let page = try await client.execute(uri: "/environments", method: .get)
            #expect(page.status == .ok)
            #expect(page.text.contains("data-environment=\"default\""))
            #expect(page.text.contains("data-environment=\"feature-x\""))
            #expect(page.text.contains("href=\"/events?env=feature-x\""))
            let events = try await client.execute(uri: "/events?env=feature-x", method: .get)
            #expect(events.text.contains(">a<") || events.text.contains("a</a>"), "the branch's event")
        }
    }
}
