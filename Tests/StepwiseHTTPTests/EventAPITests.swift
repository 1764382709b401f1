import Foundation
import Testing
import NIOHTTP1
@testable import Stepwise
import StepwiseHTTP
import StepwiseTesting

/// The seed's example request body, as its curl command sends it.
let seedExampleBody = """
    {
        "name": "user.signup",
        "data": {
          "userId": "645ea8289ad09eac29230442"
        }
      }
    """

let production = StepwiseHTTPConfiguration(
    isDevelopment: false, eventKeys: SecretKeys(["key-one", "key-two"]), signingKeys: SecretKeys(["sign-me"]))
let development = StepwiseHTTPConfiguration(isDevelopment: true)

@Suite("Event API over a real HTTP server")
struct EventAPITests {
    @Test("one event or a batch: 200 with one id per event, in order; a duplicate answers the first event's id")
    func accepted() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: production) { url in
            let one = try await post("\(url)/e/key-one", seedExampleBody, headers: [("Content-Type", "application/json")])
            #expect(one.status == 200)
            #expect(one.headers["Content-Type"].first == "application/json")
            #expect(one.json?["status"] == 200)
            #expect(one.ids.count == 1)
            let stored = try #require(try await client.event(id: EventID(one.ids[0])!))
            #expect(stored.name == "user.signup")
            #expect(stored.data == ["userId": "645ea8289ad09eac29230442"])

            let batch = try await post("\(url)/e/key-two", """
                [{"name": "a", "data": {"n": 1}, "id": "dedupe-1"},
                 {"name": "b", "data": {"n": 2}, "user": {"email": "a@example.com"}, "ts": 1800000000000, "v": "2024-01-14.1"},
                 {"name": "a", "data": {"n": 3}, "id": "dedupe-1"}]
                """)
            #expect(batch.status == 200)
            #expect(batch.ids.count == 3)
            #expect(batch.ids[0] == batch.ids[2], "a duplicate answers with the first event's id")
            #expect(batch.ids[0] < batch.ids[1], "ids are sortable in the batch's order")
            let b = try #require(try await client.event(id: EventID(batch.ids[1])!))
            #expect(b.user == ["email": "a@example.com"])
            #expect(b.ts == 1_800_000_000_000)
            #expect(b.v == "2024-01-14.1")
            #expect(try await storedEvents(client.store).count == 3)
        }
    }

    @Test("a batch with one bad event is refused whole, naming the event's index and field")
    func batchAtomicity() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: production) { url in
            let cases: [(String, String)] = [
                (#"[{"name": "ok", "data": {}}, {"name": "bad", "data": [1, 2]}]"#, "events[1].data: must be a JSON object, not an array"),
                (#"[{"name": "ok", "data": {}}, {"data": {}}]"#, "events[1].name: is required"),
                (#"[{"name": "ok", "data": {}}, {"name": "no-data"}]"#, "events[1].data: is required"),
                (#"[{"name": "ok", "data": {}}, {"name": "null-data", "data": null}]"#, "events[1].data: is required"),
                (#"[{"name": "ok", "data": {}}, {"name": 7}]"#, "events[1].name: must be a string, not a number"),
                (#"[{"name": "ok", "data": {}}, {"name": "  ", "data": {}}]"#, "events[1].name: must not be empty"),
                (#"[{"name": "ok", "data": {}}, {"name": "x", "ts": "yesterday"}]"#, "events[1].ts: must be an integer"),
                (#"[{"name": "ok", "data": {}}, {"name": "x", "ts": 1.5}]"#, "events[1].ts: must be an integer"),
                (#"[{"name": "ok", "data": {}}, {"name": "x", "id": 12}]"#, "events[1].id: must be a string, not a number"),
                (#"[{"name": "ok", "data": {}}, {"name": "x", "data": {}, "user": "me"}]"#, "events[1].user: must be a JSON object, not a string"),
                (#"[{"name": "ok", "data": {}}, "event"]"#, "events[1]: must be an event object, not a string"),
                (#"[{"name": "ok", "data": {}}, {"name": "inngest/function.finished", "data": {}}]"#, "events[1].name: names starting with 'inngest/'"),
                (#""just a string""#, "must be an event object or an array of them"),
                (#"{"name": "x", "data": {}, "ts": 1700000000}"#, "seconds instead of milliseconds"),
            ]
            for (body, message) in cases {
                let answer = try await post("\(url)/e/key-one", body)
                #expect(answer.status == 400, "\(body)")
                #expect(answer.json?["status"] == 400)
                #expect(answer.error?.contains(message) == true, "\(body): \(answer.body)")
            }
            #expect(try await storedEvents(client.store).isEmpty, "nothing of a refused batch is stored")
        }
    }

    @Test("malformed JSON and invalid UTF-8 are 400s that say where")
    func malformed() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: production) { url in
            let truncated = try await post("\(url)/e/key-one", #"{"name": "a", "data": {"#)
            #expect(truncated.status == 400)
            #expect(truncated.error?.contains("malformed JSON at byte") == true, "\(truncated.body)")
            let empty = try await post("\(url)/e/key-one", "")
            #expect(empty.status == 400)
            var invalidUTF8 = Array(#"{"name": "a", "data": {"k": ""#.utf8)
            invalidUTF8 += [0xC3, 0x28]
            invalidUTF8 += Array(#""}}"#.utf8)
            let answer = try await request(.POST, "\(url)/e/key-one", body: invalidUTF8)
            #expect(answer.status == 400)
            #expect(answer.error?.contains("UTF-8") == true, "\(answer.body)")
            #expect(try await storedEvents(client.store).isEmpty)
        }
    }

    @Test("outside dev mode an unknown or missing key is a 401, 'Event key not found'; dev mode takes any")
    func keys() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: production) { url in
            for path in ["/e/wrong-key", "/e/key-one-and-more", "/e/", "/e"] {
                let answer = try await post(url + path, seedExampleBody)
                #expect(answer.status == 401, "\(path)")
                #expect(answer.json == ["error": "Event key not found", "status": 401], "\(path): \(answer.body)")
            }
            #expect(try await storedEvents(client.store).isEmpty)
        }
        try await withAPIServer(client: client, configuration: development) { url in
            for path in ["/e/anything", "/e/", "/e"] {
                let answer = try await post(url + path, seedExampleBody)
                #expect(answer.status == 200, "\(path)")
            }
        }
    }

    @Test("keys come from STEPWISE_EVENT_KEYS and INNGEST_EVENT_KEY, and are kept only as hashes")
    func keysFromEnvironment() throws {
        let configuration = StepwiseHTTPConfiguration.fromEnvironment(
            ["STEPWISE_EVENT_KEYS": " alpha, beta ,,", "INNGEST_EVENT_KEY": "gamma\n", "STEPWISE_SIGNING_KEY": "zeta-sign",
             "STEPWISE_ENVIRONMENTS": "staging, feature/x"],
            isDevelopment: false)
        #expect(configuration.eventKeys.count == 3)
        for key in ["alpha", "beta", "gamma"] { #expect(configuration.eventKeys.contains(key)) }
        for key in ["", "alph", "alpha ", "delta", "zeta-sign"] { #expect(!configuration.eventKeys.contains(key), "\(key)") }
        #expect(configuration.signingKeys.contains("zeta-sign"))
        #expect(configuration.environments == ["staging", "feature/x"])
        #expect(configuration.missingForProduction.isEmpty)
        let dump = "\(configuration) \(String(reflecting: configuration))"
        for key in ["alpha", "beta", "gamma", "zeta-sign"] { #expect(!dump.contains(key), "the key's text is not kept") }

        let bare = StepwiseHTTPConfiguration.fromEnvironment([:], isDevelopment: false)
        #expect(bare.missingForProduction.count == 2)
        #expect(bare.missingForProduction[0].contains("STEPWISE_EVENT_KEYS"))
        #expect(bare.missingForProduction[1].contains("STEPWISE_SIGNING_KEY"))
    }

    @Test("a body over the limit is a 413, and stores nothing")
    func tooLarge() async throws {
        let client = try makeClient()
        var configuration = production
        configuration.maxRequestBytes = 4096
        try await withAPIServer(client: client, configuration: configuration) { url in
            let big = #"{"name": "a", "data": {"blob": ""# + String(repeating: "x", count: 5000) + #""}}"#
            let answer = try await post("\(url)/e/key-one", big)
            #expect(answer.status == 413)
            #expect(answer.json?["status"] == 413)
            // Under the request limit but over the event limit: 413 too, naming the event.
            let events = "[" + (0..<3).map { _ in #"{"name": "a", "data": {}}"# }.joined(separator: ",") + "]"
            #expect(try await post("\(url)/e/key-one", events).status == 200)
            #expect(try await storedEvents(client.store).count == 3)
        }
        let small = StepwiseClient(
            id: "test-app", store: try SQLiteStore(.init(path: nil)),
            configuration: .init(limits: EventLimits(maxEventBytes: 100, maxBatchBytes: 1000, maxBatchCount: 10)), logger: quietLogger())
        try await withAPIServer(client: small, configuration: production) { url in
            let answer = try await post("\(url)/e/key-one", #"[{"name": "a", "data": {}}, {"name": "b", "data": {"blob": ""# + String(repeating: "y", count: 200) + #""}}]"#)
            #expect(answer.status == 413)
            #expect(answer.error?.hasPrefix("events[1]: the event is") == true, "\(answer.body)")
            #expect(try await storedEvents(small.store).isEmpty)
        }
    }

    @Test("another method on the Event API is a 405 that allows POST")
    func methodNotAllowed() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: production) { url in
            for method: HTTPMethod in [.GET, .PUT, .PATCH, .DELETE] {
                let answer = try await request(method, "\(url)/e/key-one", body: method == .GET ? nil : Array(seedExampleBody.utf8))
                #expect(answer.status == 405, "\(method)")
                #expect(answer.headers["Allow"].first == "POST")
                #expect(answer.json?["status"] == 405)
            }
            #expect(try await storedEvents(client.store).isEmpty)
        }
    }

    @Test("x-inngest-event-id-seed: a retried request gets the same ids and is stored once")
    func idSeed() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: production) { url in
            let seed = EventIDSeed.random(milliseconds: 1_800_000_000_000).description
            let body = #"[{"name": "a", "data": {"n": 1}}, {"name": "b", "data": {}}]"#
            let first = try await post("\(url)/e/key-one", body, headers: [("x-inngest-event-id-seed", seed)])
            let retry = try await post("\(url)/e/key-one", body, headers: [("x-inngest-event-id-seed", seed)])
            #expect(first.status == 200)
            #expect(retry.ids == first.ids)
            #expect(first.ids == [EventIDSeed(seed)!.eventID(at: 0).description, EventIDSeed(seed)!.eventID(at: 1).description])
            #expect(try await storedEvents(client.store).count == 2)

            let bad = try await post("\(url)/e/key-one", body, headers: [("x-inngest-event-id-seed", "not a seed")])
            #expect(bad.status == 400)
            #expect(bad.error?.contains("x-inngest-event-id-seed") == true)
            #expect(try await storedEvents(client.store).count == 2)
        }
    }

    @Test("x-inngest-env: dev mode makes an environment on first use; otherwise it must be configured or in use")
    func environments() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: development) { url in
            let answer = try await post("\(url)/e/x", #"{"name": "branch.event", "data": {}}"#, headers: [("x-inngest-env", "feature/my-branch")])
            #expect(answer.status == 200)
            #expect(try await storedEvents(client.store, environment: "feature/my-branch").map(\.name) == ["branch.event"])
            #expect(try await storedEvents(client.store).isEmpty, "not in the default environment")
        }
        var configuration = production
        configuration.environments = ["staging"]
        try await withAPIServer(client: client, configuration: configuration) { url in
            let unknown = try await post("\(url)/e/key-one", #"{"name": "x", "data": {}}"#, headers: [("x-inngest-env", "feature/other")])
            #expect(unknown.status == 404)
            #expect(unknown.error?.contains("environment 'feature/other'") == true, "\(unknown.body)")
            #expect(try await storedEvents(client.store, environment: "feature/other").isEmpty)

            #expect(try await post("\(url)/e/key-one", #"{"name": "x", "data": {}}"#, headers: [("x-inngest-env", "staging")]).status == 200)
            #expect(try await post("\(url)/e/key-one", #"{"name": "x", "data": {}}"#, headers: [("x-inngest-env", "feature/my-branch")]).status == 200,
                    "in use since dev mode stored events in it")

            // A worker serving an environment brings it into use.
            let branchWorker = try makeClient(store: client.store as? SQLiteStore, environment: "pr-42")
            try branchWorker.createFunction(id: "f", trigger: .event("x")) { _, _ in }
            try await branchWorker.registerFunctions()
            #expect(try await post("\(url)/e/key-one", #"{"name": "x", "data": {}}"#, headers: [("x-inngest-env", "pr-42")]).status == 200)
            let malformed = try await post("\(url)/e/key-one", #"{"name": "x", "data": {}}"#, headers: [("x-inngest-env", String(repeating: "e", count: 300))])
            #expect(malformed.status == 400)
        }
    }

    @Test("an event posted over HTTP runs the served client's functions")
    func triggersFunctions() async throws {
        let client = try makeClient()
        try client.createFunction(id: "welcome", trigger: .event("user.signup")) { event, step in
            try await step.run("greet") { "hello \(event.data["userId"]?.stringValue ?? "?")" }
        }
        let worker = client.worker(.init(concurrency: 2, pollInterval: .milliseconds(20)))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await worker.run() }
            try await withAPIServer(client: client, configuration: production) { url in
                let answer = try await post("\(url)/e/key-one", seedExampleBody)
                let eventID = try #require(EventID(answer.ids.first ?? ""))
                let deadline = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < deadline {
                    if let run = try await client.runs(event: eventID).first, run.status == .completed {
                        #expect(run.output == "hello 645ea8289ad09eac29230442")
                        break
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(try await client.runs(event: eventID).first?.status == .completed)
            }
            tasks.cancelAll()
        }
    }
}
