import Foundation
import InMemoryLogging
import Logging
import Hummingbird
import NIOHTTP1
import Testing
@testable import Stepwise
@testable import StepwiseHTTP
import StepwiseTesting

@Suite("REST API over a real HTTP server")
struct RESTAPITests {
    let signed = [("Authorization", "Bearer sign-me")]

    @Test("outside dev mode the REST API needs the signing key as a bearer token")
    func signingKey() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: production) { url in
            let missing = try await get("\(url)/v1/events")
            #expect(missing.status == 401)
            #expect(missing.error?.contains("Authorization: Bearer") == true)
            for value in ["Bearer wrong", "Bearer key-one", "Basic sign-me", "sign-me", "Bearer"] {
                let answer = try await get("\(url)/v1/events", headers: [("Authorization", value)])
                #expect(answer.status == 401, "\(value)")
            }
            #expect(try await get("\(url)/v1/events", headers: signed).status == 200)
            #expect(try await get("\(url)/v1/events", headers: [("authorization", "bearer sign-me")]).status == 200)
        }
        try await withAPIServer(client: client, configuration: development) { url in
            let answer = try await get("\(url)/v1/events")
            #expect(answer.status == 200, "dev mode needs no key")
        }
    }

    @Test("events: by id, listed by name and time a page at a time, and the runs each triggered")
    func events() async throws {
        let client = try makeClient()
        try client.createFunction(id: "on-a", trigger: .event("a")) { _, _ in }
        try await withAPIServer(client: client, configuration: production) { url in
            var ids: [String] = []
            for n in 0..<5 {
                let answer = try await post("\(url)/e/key-one", #"{"name": "\#(n % 2 == 0 ? "a" : "b")", "data": {"n": \#(n)}, "id": "k\#(n)"}"#)
                ids += answer.ids
                try await Task.sleep(for: .milliseconds(3))
            }
            let one = try await get("\(url)/v1/events/\(ids[1])", headers: signed)
            #expect(one.status == 200)
            let event = try #require(one.json?["data"])
            #expect(event["internal_id"]?.stringValue == ids[1])
            #expect(event["name"] == "b")
            #expect(event["data"] == ["n": 1])
            #expect(event["id"] == "k1")
            #expect(event["received_at"]?.stringValue?.hasSuffix("Z") == true)

            // Newest first, two at a time, following the cursor.
            var seen: [String] = []
            var cursor: String?
            repeat {
                let page = try await get("\(url)/v1/events?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), headers: signed)
                #expect(page.status == 200)
                seen += page.json?["data"]?.arrayValue?.compactMap { $0["internal_id"]?.stringValue } ?? []
                cursor = page.json?["cursor"]?.stringValue
            } while cursor != nil
            #expect(seen == ids.reversed())

            let named = try await get("\(url)/v1/events?name=a", headers: signed)
            #expect(named.json?["data"]?.arrayValue?.count == 3)
            let since = try #require(try await client.event(id: EventID(ids[3])!)).receivedAt
            let recent = try await get("\(url)/v1/events?since=\(since)", headers: signed)
            #expect(recent.json?["data"]?.arrayValue?.compactMap { $0["internal_id"]?.stringValue } == [ids[4], ids[3]])
            let rfc3339 = try await get("\(url)/v1/events?until=2000-01-01T00:00:00Z", headers: signed)
            #expect(rfc3339.status == 200)
            #expect(rfc3339.json?["data"]?.arrayValue?.isEmpty == true)

            let runs = try await get("\(url)/v1/events/\(ids[0])/runs", headers: signed)
            #expect(runs.json?["data"]?.arrayValue?.count == 1)
            #expect(runs.json?["data"]?[0]?["function_id"] == "on-a")
            #expect(try await get("\(url)/v1/events/\(ids[1])/runs", headers: signed).json?["data"]?.arrayValue?.isEmpty == true)

            for (path, status) in [
                ("/v1/events/01ARZ3NDEKTSV4RRFFQ69G5FAV", 404), ("/v1/events/not-an-id", 400), ("/v1/events?limit=0", 400),
                ("/v1/events?limit=1001", 400), ("/v1/events?limit=ten", 400), ("/v1/events?since=yesterday", 400),
                ("/v1/events?since=2000&until=1000", 400), ("/v1/events?cursor=garbage", 400), ("/v1/events/01ARZ3NDEKTSV4RRFFQ69G5FAV/runs", 404),
                ("/v1/nothing", 404),
            ] {
                let answer = try await get(url + path, headers: signed)
                #expect(answer.status == status, "\(path): \(answer.body)")
                #expect(answer.json?["status"]?.intValue == Int64(status), "\(path)")
                #expect(answer.error?.isEmpty == false, "\(path)")
            }
        }
    }

    @Test("runs: listed by function and status, shown with their steps, cancelled, and rerun")
    func runs() async throws {
        let harness = try HTTPHarness()
        let client = harness.client
        try client.createFunction(id: "charge", trigger: .event("order/placed")) { event, step in
            let amount = try await step.run("price") { 42 }
            try await step.run("charge") { "charged \(amount)" }
            return amount
        }
        try client.createFunction(id: "nap", trigger: .event("order/placed")) { event, step in
            try await step.sleep("nap", for: .seconds(3600))
        }
        try await withAPIServer(client: client, configuration: production) { url in
            let eventID = try await post("\(url)/e/key-one", #"{"name": "order/placed", "data": {}}"#).ids[0]
            // Runs what is due now, without moving the clock: the nap stays asleep.
            try await harness.worker.drain()

            let all = try await get("\(url)/v1/runs", headers: signed)
            #expect(all.json?["data"]?.arrayValue?.count == 2)
            let charged = try await get("\(url)/v1/runs?function=charge&status=completed", headers: signed)
            let chargeRun = try #require(charged.json?["data"]?[0])
            #expect(chargeRun["function_id"] == "charge")
            #expect(chargeRun["event_id"]?.stringValue == eventID)
            #expect(chargeRun["output"] == 42)
            let sleeping = try await get("\(url)/v1/runs?status=sleeping", headers: signed)
            let napRun = try #require(sleeping.json?["data"]?[0])
            #expect(napRun["function_id"] == "nap")

            // Paging with a cursor.
            let first = try await get("\(url)/v1/runs?limit=1", headers: signed)
            let cursor = try #require(first.json?["cursor"]?.stringValue)
            let second = try await get("\(url)/v1/runs?limit=1&cursor=\(cursor)", headers: signed)
            #expect(second.json?["data"]?.arrayValue?.count == 1)
            #expect(second.json?["data"]?[0]?["id"] != first.json?["data"]?[0]?["id"])

            let shown = try await get("\(url)/v1/runs/\(chargeRun["id"]!.stringValue!)", headers: signed)
            let steps = try #require(shown.json?["data"]?["steps"]?.arrayValue)
            #expect(steps.map { $0["id"] } == ["price", "charge"])
            #expect(steps[0]["status"] == "completed")
            #expect(steps[0]["attempts"] == 1)
            #expect(steps[0]["output"] == 42)
            #expect(steps[1]["output"] == "charged 42")
            #expect(steps[1]["started_at"]?.stringValue != nil && steps[1]["ended_at"]?.stringValue != nil)

            // Cancel the sleeper; a second cancel is a conflict; an ended run cannot be cancelled.
            let napID = try #require(napRun["id"]?.stringValue)
            let cancelled = try await request(.POST, "\(url)/v1/runs/\(napID)/cancel", headers: signed)
            #expect(cancelled.status == 200)
            #expect(cancelled.json?["data"]?["status"] == "cancelled")
            #expect(try await request(.POST, "\(url)/v1/runs/\(napID)/cancel", headers: signed).status == 409)
            #expect(try await client.events(named: SystemEvent.functionCancelled).events.count == 1)

            // Rerun the completed charge: a new run on the same event, which runs again.
            let chargeID = try #require(chargeRun["id"]?.stringValue)
            let rerun = try await request(.POST, "\(url)/v1/runs/\(chargeID)/rerun", headers: signed)
            #expect(rerun.status == 201)
            #expect(rerun.json?["data"]?["rerun_of"]?.stringValue == chargeID)
            #expect(rerun.json?["data"]?["status"] == "queued")
            try await harness.runUntilIdle()
            let rerunID = try #require(rerun.json?["data"]?["id"]?.stringValue)
            #expect(try await get("\(url)/v1/runs/\(rerunID)", headers: signed).json?["data"]?["status"] == "completed")
            #expect(try await get("\(url)/v1/events/\(eventID)/runs", headers: signed).json?["data"]?.arrayValue?.count == 3)

            for (method, path, status) in [
                (HTTPMethod.GET, "/v1/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV", 404), (.GET, "/v1/runs/nope", 400), (.GET, "/v1/runs?status=done", 400),
                (.GET, "/v1/runs?cursor=nope", 400), (.POST, "/v1/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV/cancel", 404),
                (.POST, "/v1/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV/rerun", 404), (.POST, "/v1/runs/nope/rerun", 400),
            ] {
                let answer = try await request(method, url + path, headers: signed)
                #expect(answer.status == status, "\(path): \(answer.body)")
                #expect(answer.error?.isEmpty == false)
            }
        }
    }

    @Test("a branch environment's client logs through the app's logger, not one of its own")
    func branchClientUsesAppLogger() async throws {
        var handler = InMemoryLogHandler()
        handler.logLevel = .info
        let logger = Logger(label: "app", factory: { _ in handler })
        let store = try SQLiteStore(.init(path: nil))
        let served = StepwiseClient(id: "shop", store: store, logger: logger)
        let branch = StepwiseClient(id: "shop", store: store, configuration: .init(environment: "feature/x"), logger: quietLogger())
        try branch.createFunction(id: "nap", trigger: .event("nap")) { _, step in try await step.sleep("z", for: .seconds(60)) }
        try await branch.send(Event(name: "nap"))
        let runID = try #require(try await branch.runs(function: "nap").first?.id)
        try await withAPIServer(client: served, configuration: development) { url in
            let cancelled = try await request(.POST, "\(url)/v1/runs/\(runID)/cancel", headers: [("x-inngest-env", "feature/x")])
            #expect(cancelled.status == 200)
        }
        let line = try #require(handler.entries.first { $0.message.description == "run cancelled" })
        #expect(line.metadata["stepwise.app"] == "shop")
        #expect(line.metadata["stepwise.run"] == "\(runID)")
    }

    @Test("the REST API reads the environment x-inngest-env names")
    func environments() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: development) { url in
            let id = try await post("\(url)/e/x", #"{"name": "branch.event", "data": {}}"#, headers: [("x-inngest-env", "feature/x")]).ids[0]
            #expect(try await get("\(url)/v1/events/\(id)").status == 404, "not in the default environment")
            let there = try await get("\(url)/v1/events/\(id)", headers: [("x-inngest-env", "feature/x")])
            #expect(there.json?["data"]?["name"] == "branch.event")
        }
        try await withAPIServer(client: client, configuration: production) { url in
            let unknown = try await get("\(url)/v1/events", headers: signed + [("x-inngest-env", "nowhere")])
            #expect(unknown.status == 404)
        }
    }
}

/// A client with a manual clock and a worker to drive, for tests that need runs to finish.
struct HTTPHarness {
    let clock = ManualClock()
    let client: StepwiseClient
    let worker: Worker

    init() throws {
        client = StepwiseClient(
            id: "test-app", store: try SQLiteStore(.init(path: nil)), configuration: .init(clock: clock), logger: quietLogger())
        worker = client.worker(.init(concurrency: 4))
    }

    func runUntilIdle() async throws {
        try await worker.runUntilIdle(advancing: clock)
    }
}

@Suite("Mounting and logging")
struct MountingTests {
    @Test("the APIs mount under a prefix of an app's own router, beside its routes")
    func mountedUnderPrefix() async throws {
        let client = try makeClient()
        let router = Router()
        router.get("health") { _, _ in "ok" }
        StepwiseHTTPAPI(client: client, configuration: production).addRoutes(to: router.group("stepwise"))
        try await withServer(router) { url in
            #expect(try await get("\(url)/health").body == "ok")
            let sent = try await post("\(url)/stepwise/e/key-one", #"{"name": "mounted", "data": {}}"#)
            #expect(sent.status == 200)
            let read = try await get("\(url)/stepwise/v1/events/\(sent.ids[0])", headers: [("Authorization", "Bearer sign-me")])
            #expect(read.json?["data"]?["name"] == "mounted")
            #expect(try await post("\(url)/stepwise/e/wrong", #"{"name": "x", "data": {}}"#).status == 401)
        }
    }

    @Test("an event key in a path is never logged")
    func redaction() {
        #expect(RequestLogMiddleware<BasicRequestContext>.redacted("/e/secret-key") == "/e/***")
        #expect(RequestLogMiddleware<BasicRequestContext>.redacted("/stepwise/e/secret-key") == "/stepwise/e/***")
        #expect(RequestLogMiddleware<BasicRequestContext>.redacted("/e/") == "/e/")
        #expect(RequestLogMiddleware<BasicRequestContext>.redacted("/e") == "/e")
        #expect(RequestLogMiddleware<BasicRequestContext>.redacted("/v1/events") == "/v1/events")
    }

    @Test("whatever follows an e segment is cut from the log, in any case, spelling or number of slashes")
    func structuralRedaction() {
        for path in [
            "/e//secret-key", "/e///secret-key", "/E/secret-key", "/%65/secret-key", "/%45/secret-key", "/e%2Fsecret-key",
            "/e%2fsecret-key", "/stepwise/E/secret-key/more", "//e/secret-key", "/e/secret-key/", "/e//",
        ] {
            let logged = RequestLogMiddleware<BasicRequestContext>.redacted(path)
            #expect(!logged.contains("secret"), "\(path) is logged as \(logged)")
            #expect(logged.hasSuffix("/e/***"), "\(path) is logged as \(logged)")
        }
    }
}

@Suite("Request log")
struct RequestLogTests {
    @Test("each request is logged in one line, once answered: method, path without the key, status, duration")
    func oneLinePerRequest() async throws {
        var handler = InMemoryLogHandler()
        handler.logLevel = .info
        let logger = Logger(label: "server", factory: { _ in handler })
        let client = try makeClient()
        try await withServer(StepwiseHTTPAPI(client: client, configuration: production).router(), logger: logger) { url in
            _ = try await post("\(url)/e/key-one", #"{"name": "a", "data": {}}"#)
            _ = try await post("\(url)/e/wrong-key", #"{"name": "a", "data": {}}"#)
            _ = try await get("\(url)/v1/events")
        }
        let lines = handler.entries.map(\.message.description).filter { $0.hasPrefix("POST ") || $0.hasPrefix("GET ") }
        #expect(lines.count == 3)
        #expect(lines.contains { $0.hasPrefix("POST /e/*** 200 ") && $0.hasSuffix("ms") })
        #expect(lines.contains { $0.hasPrefix("POST /e/*** 401 ") })
        #expect(lines.contains { $0.hasPrefix("GET /v1/events 401 ") })
        #expect(!handler.entries.contains { "\($0.message) \($0.metadata)".contains("key-one") }, "the key is never logged")
    }

    @Test("wrong guesses at the path are logged without their key: empty segments, another case, 404s")
    func wrongGuessesNotLogged() async throws {
        var handler = InMemoryLogHandler()
        handler.logLevel = .trace
        let logger = Logger(label: "server", factory: { _ in handler })
        let client = try makeClient()
        try await withServer(StepwiseHTTPAPI(client: client, configuration: production).router(), logger: logger) { url in
            let empty = try await post("\(url)/e//key-one", #"{"name": "a", "data": {}}"#)
            #expect(empty.status == 200, "a doubled slash is accepted, as a sender's base URL ending in / makes it")
            #expect(try await post("\(url)/E/key-two", #"{"name": "a", "data": {}}"#).status == 404)
            #expect(try await post("\(url)/e%2Fkey-two", #"{"name": "a", "data": {}}"#).status == 404)
            _ = try await get("\(url)/e/key-two/extra")
        }
        let lines = handler.entries.map(\.message.description).filter { $0.hasPrefix("POST ") || $0.hasPrefix("GET ") }
        #expect(lines.count == 4, "\(lines)")
        #expect(!handler.entries.contains { "\($0.message) \($0.metadata)".contains("key-") }, "\(handler.entries.map(\.message))")
    }
}
