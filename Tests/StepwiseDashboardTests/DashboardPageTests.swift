import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Stepwise
import Testing

@Suite("Dashboard pages, through Hummingbird's test client")
struct DashboardPageTests {
    @Test("the events page lists events newest first, and a <script> payload renders as text")
    func eventsEscaped() async throws {
        let harness = try DashboardHarness()
        _ = try await harness.client.send(Event(name: "app/first", data: ["n": 1]))
        _ = try await harness.client.send(Event(name: "app/second", data: ["html": "<script>alert('x')</script><img src=x onerror=alert(2)>"]))
        try await harness.app().test(.router) { client in
            try await client.execute(uri: "/events", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(response.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
                let html = response.text
                #expect(!html.contains("<script>alert"))
                #expect(!html.contains("<img src=x"))
                #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
                #expect(html.contains("&lt;img src=x onerror=alert(2)&gt;"))
                let first = try #require(html.range(of: "app/first")), second = try #require(html.range(of: "app/second"))
                #expect(second.lowerBound < first.lowerBound, "newest first")
                #expect(html.contains("data-live="), "the first page follows new events")
            }
            // The root is the events stream too.
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.text.contains("<h1>Events</h1>"))
            }
        }
    }

    @Test("events are searched by name, id, time and data, and paged by cursor")
    func eventSearch() async throws {
        let harness = try DashboardHarness()
        var sent: [EventID] = []
        for n in 0..<60 {
            sent.append(try await harness.client.send(Event(name: n % 2 == 0 ? "app/even" : "app/odd", data: ["n": .int(Int64(n)), "tag": n == 7 ? "needle" : "hay"])))
        }
        let ids = sent
        try await harness.app().test(.router) { client in
            try await client.execute(uri: "/events?q=app/odd", method: .get) { response in
                #expect(response.text.components(separatedBy: "data-event-id=").count - 1 == 30)
                #expect(!response.text.contains("app/even"))
            }
            try await client.execute(uri: "/events?q=\(ids[3])", method: .get) { response in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/events/\(ids[3])")
            }
            try await client.execute(uri: "/events?data=needle", method: .get) { response in
                #expect(response.text.components(separatedBy: "data-event-id=").count - 1 == 1)
                #expect(response.text.contains("data-event-id=\"\(ids[7])\""))
            }
            let page = try await client.execute(uri: "/events", method: .get)
            #expect(page.text.components(separatedBy: "data-event-id=").count - 1 == 50)
            let next = try #require(page.text.range(of: "rel=\"next\" href=\"").map { page.text[$0.upperBound...].prefix { $0 != "\"" } })
            let older = try await client.execute(uri: String(next).replacingOccurrences(of: "&amp;", with: "&"), method: .get)
            #expect(older.text.components(separatedBy: "data-event-id=").count - 1 == 10)
            #expect(older.text.contains("No older events."))
            try await client.execute(uri: "/events?since=2999-01-01T00:00:00Z", method: .get) { response in
                #expect(response.text.contains("No events."))
            }
            try await client.execute(uri: "/events?since=yesterday", method: .get) { response in
                #expect(response.status == .badRequest)
                #expect(response.text.contains("since: must be an RFC 3339 time"))
            }
            try await client.execute(uri: "/events?fragment=rows", method: .get) { response in
                #expect(!response.text.contains("<html"))
                #expect(response.text.hasPrefix("<tr"))
            }
        }
    }

    @Test("an event's page shows its data and the runs it triggered")
    func eventPage() async throws {
        let harness = try DashboardHarness()
        try await harness.client.registerFunctions()
        let id = try await harness.client.send(Event(name: "app/greet", data: ["name": "Ada"]))
        try await harness.drain()
        try await harness.app().test(.router) { client in
            try await client.execute(uri: "/events/\(id)", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.text.contains("&quot;name&quot;: &quot;Ada&quot;"))
                #expect(response.text.contains("greet"))
                #expect(response.text.contains("data-status=\"completed\""))
            }
            try await client.execute(uri: "/events/01ARZ3NDEKTSV4RRFFQ69G5FAV", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.text.contains("No event 01ARZ3NDEKTSV4RRFFQ69G5FAV"))
            }
            try await client.execute(uri: "/events/not-an-id", method: .get) { response in
                #expect(response.status == .badRequest)
            }
        }
    }

    @Test("a run's page shows every attempt on its timeline, the events it sent, and why it sleeps")
    func runPage() async throws {
        let harness = try DashboardHarness()
        try await harness.client.registerFunctions()
        _ = try await harness.client.send(Event(name: "app/greet", data: ["name": "Ada"]))
        _ = try await harness.client.send(Event(name: "app/nap", data: [:]))
        try await harness.drain()
        let greet = try #require(try await harness.client.runs(function: "greet").first)
        let nap = try #require(try await harness.client.runs(function: "nap").first)
        #expect(nap.status == .sleeping)
        try await harness.app().test(.router) { client in
            try await client.execute(uri: "/runs/\(greet.id)", method: .get) { response in
                let html = response.text
                #expect(html.contains("data-lane=\"name #1\""))
                #expect(html.contains("data-lane=\"greeted #1\""))
                #expect(html.contains("sent event <a class=\"mono\" href=\"/events/"))
                #expect(html.contains("&quot;hello Ada&quot;"))
                #expect(!html.contains("data-live="), "an ended run's page is still")
            }
            try await client.execute(uri: "/runs/\(nap.id)", method: .get) { response in
                let html = response.text
                #expect(html.contains("sleeps in step “a-day” until"))
                #expect(html.contains("data-lane=\"a-day (sleep)\""))
                #expect(html.contains("data-live=\"/runs/\(nap.id)?fragment=details\""))
            }
            try await client.execute(uri: "/runs/\(nap.id)?fragment=details", method: .get) { response in
                #expect(response.headers[HTTPField.Name("X-Stepwise-Live")!] == nil)
                #expect(!response.text.contains("<html"))
            }
            try await client.execute(uri: "/runs/\(greet.id)?fragment=details", method: .get) { response in
                #expect(response.headers[HTTPField.Name("X-Stepwise-Live")!] == "done")
            }
        }
    }

    @Test("runs are filtered by status and function, with a count per status")
    func runsFiltered() async throws {
        let harness = try DashboardHarness()
        try await harness.client.registerFunctions()
        for _ in 0..<3 { _ = try await harness.client.send(Event(name: "app/fail", data: [:])) }
        _ = try await harness.client.send(Event(name: "app/greet", data: ["name": "Ada"]))
        try await harness.drain()
        try await harness.app().test(.router) { client in
            try await client.execute(uri: "/runs?status=failed", method: .get) { response in
                #expect(response.text.components(separatedBy: "data-run-id=").count - 1 == 3)
                #expect(response.text.contains("data-count=\"failed\">failed <strong>3</strong>"))
                #expect(response.text.contains("data-count=\"completed\">completed <strong>1</strong>"))
            }
            try await client.execute(uri: "/runs?function=greet", method: .get) { response in
                #expect(response.text.components(separatedBy: "data-run-id=").count - 1 == 1)
            }
            try await client.execute(uri: "/runs?until=2000-01-01T00:00:00Z", method: .get) { response in
                #expect(response.text.contains("No runs."))
            }
            try await client.execute(uri: "/runs?status=lost", method: .get) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/functions", method: .get) { response in
                #expect(response.text.contains("data-function=\"fail\""))
                #expect(response.text.contains("app/fail"))
                #expect(response.text.contains("failed 3"))
            }
        }
    }

    @Test("the runs page's counts keep to the filter's time range, and say when they were taken over the newest 1000 runs only")
    func countsAreHonest() async throws {
        let harness = try DashboardHarness()
        try await harness.client.registerFunctions()
        for _ in 0..<2 { _ = try await harness.client.send(Event(name: "app/fail", data: [:])) }
        harness.clock.advance(by: .seconds(3600))
        let since = harness.clock.now()
        _ = try await harness.client.send(Event(name: "app/greet", data: [:]))
        try await harness.app().test(.router) { client in
            try await client.execute(uri: "/runs?since=\(since)", method: .get) { response in
                #expect(response.text.contains("data-count=\"queued\">queued <strong>1</strong>"), "the older two are not counted")
                #expect(response.text.contains("(exact: every run of this function and time range)"))
            }
            try await client.execute(uri: "/runs", method: .get) { response in
                #expect(response.text.contains("data-count=\"queued\">queued <strong>3</strong>"))
            }
        }
        _ = try await harness.client.send((0..<1000).map { _ in Event(name: "app/greet", data: [:]) })
        try await harness.app().test(.router) { client in
            try await client.execute(uri: "/runs", method: .get) { response in
                #expect(response.text.contains("data-count=\"queued\">queued <strong>1000</strong>"))
                #expect(response.text.contains("counted over the newest 1000 runs of this function and time range only"))
            }
        }
    }

    @Test("the stylesheet and script are served from the binary, with an ETag")
    func assets() async throws {
        let harness = try DashboardHarness()
        try await harness.app().test(.router) { client in
            let css = try await client.execute(uri: "/assets/dashboard.css", method: .get)
            #expect(css.status == .ok)
            #expect(css.headers[.contentType] == "text/css; charset=utf-8")
            let etag = try #require(css.headers[.eTag])
            try await client.execute(uri: "/assets/dashboard.css", method: .get, headers: [.ifNoneMatch: etag]) { response in
                #expect(response.status == .notModified)
            }
            try await client.execute(uri: "/assets/dashboard.js", method: .get) { response in
                #expect(response.text.contains("data-live"))
            }
        }
    }

    @Test("mounted under a prefix, every link carries it, and the APIs still answer")
    func mounted() async throws {
        let harness = try DashboardHarness()
        let id = try await harness.client.send(Event(name: "app/mounted", data: [:]))
        try await harness.app(at: "/stepwise/").test(.router) { client in
            try await client.execute(uri: "/stepwise/events", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.text.contains("href=\"/stepwise/events/\(id)\""))
                #expect(response.text.contains("href=\"/stepwise/assets/dashboard.css\""))
            }
            try await client.execute(uri: "/v1/events/\(id)", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.contains("json") == true)
            }
        }
    }
}

@Suite("Dashboard environments and explanations")
struct DashboardEnvironmentTests {
    @Test("a page shows the environment its env parameter names, and links keep it; outside dev mode only one in use")
    func environments() async throws {
        let harness = try DashboardHarness()
        _ = try await harness.client.send([Event(name: "app/branch-only", data: [:])], environment: "feature-x")
        _ = try await harness.client.send(Event(name: "app/main-only", data: [:]))
        try await harness.app().test(.router) { client in
            try await client.execute(uri: "/events?env=feature-x", method: .get) { response in
                #expect(response.text.contains("app/branch-only"))
                #expect(!response.text.contains("app/main-only"))
                #expect(response.text.contains("href=\"/runs?env=feature-x\""))
                #expect(response.text.contains("<input type=\"hidden\" name=\"env\" value=\"feature-x\">"))
            }
            try await client.execute(uri: "/events?env=nowhere", method: .get) { response in
                #expect(response.status == .ok, "dev mode accepts any environment")
            }
            try await client.execute(uri: "/environments", method: .get) { response in
                #expect(response.text.contains("<h1>Environments</h1>"))
            }
        }
        try await harness.app(development: false).test(.router) { client in
            let signed: HTTPFields = [.authorization: "Bearer sign-me"]
            try await client.execute(uri: "/events?env=feature-x", method: .get, headers: signed) { response in
                #expect(response.status == .ok)
                #expect(response.text.contains("app/branch-only"))
            }
            try await client.execute(uri: "/events?env=nowhere", method: .get, headers: signed) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("an event's page names the functions its name matches that did not run, and why")
    func functionsNotRun() async throws {
        let harness = try DashboardHarness()
        let id = try await harness.client.send(Event(name: "app/later", data: [:]))
        let later = StepwiseClient(id: "later-app", store: harness.store, configuration: .init(clock: harness.clock), logger: quietLogger())
        try later.createFunction(id: "late-listener", trigger: .event("app/later")) { _, _ in 1 }
        harness.clock.advance(by: .seconds(5))
        try await later.registerFunctions()
        try await harness.app().test(.router) { client in
            try await client.execute(uri: "/events/\(id)", method: .get) { response in
                #expect(response.text.contains("data-not-run=\"late-listener\""))
                #expect(response.text.contains("last registered it after the event arrived"))
            }
        }
    }

    @Test("an event's page gives flow control's reason when a function's if filtered the event")
    func filteredByIf() async throws {
        let harness = try DashboardHarness()
        let app = StepwiseClient(id: "shop", store: harness.store, configuration: .init(clock: harness.clock), logger: quietLogger())
        try app.createFunction(id: "big-orders", trigger: .event("shop/order", if: "event.data.total > 100")) { _, _ in 1 }
        try await app.registerFunctions()
        let id = try await harness.client.send(Event(name: "shop/order", data: ["total": 5]))
        try await harness.app().test(.router) { client in
            try await client.execute(uri: "/events/\(id)", method: .get) { response in
                #expect(response.text.contains("data-not-run=\"big-orders\""))
                #expect(response.text.contains("filtered: the trigger&#39;s if (event.data.total &gt; 100) did not hold") ||
                        response.text.contains("filtered: the trigger&#x27;s if (event.data.total &gt; 100) did not hold"),
                        "\(response.text)")
            }
        }
    }
}
