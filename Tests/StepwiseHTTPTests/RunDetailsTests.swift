import Foundation
import Synchronization
import Testing
@testable import Stepwise
@testable import StepwiseCLI
import StepwiseHTTP
import StepwiseTesting

@Suite("Runs, steps and functions as the REST API and the tool show them")
struct RunDetailsTests {
    /// RFC 3339 with milliseconds, as the REST API writes every time.
    static func isTime(_ value: JSON?) -> Bool {
        guard let text = value?.stringValue else { return false }
        return text.count == 24 && text.hasSuffix("Z") && RESTRepresentation.parseTime(text) != nil
    }

    struct Declined: Error {}

    @Test("a step's history lists each attempt, the failed ones with their errors, for a timeline")
    func stepHistory() async throws {
        let harness = try HTTPHarness()
        let client = harness.client
        let tries = Mutex(0)
        try client.createFunction(
            id: "charge", trigger: .event("shop/checkout"), options: .init(retries: RetryPolicy(retries: 3, backoff: .constant(.seconds(1))))
        ) { _, step in
            try await step.run("card") { () -> String in
                let attempt = tries.withLock { count in
                    count += 1
                    return count
                }
                if attempt < 2 { throw Declined() }
                return "charged"
            }
        }
        try await client.send(Event(name: "shop/checkout"))
        try await harness.runUntilIdle()
        try await withAPIServer(client: client, configuration: development) { url in
            let runID = try #require(try await client.runs(function: "charge").first?.id)
            let step = try #require(try await get("\(url)/v1/runs/\(runID)").json?["data"]?["steps"]?[0])
            let history = try #require(step["history"]?.arrayValue)
            #expect(history.map { $0["attempt"] } == [1, 2])
            #expect(history.map { $0["status"] } == ["errored", "completed"])
            #expect(history[0]["error"]?["name"]?.stringValue?.hasSuffix("Declined") == true && history[1]["error"] == .null)
            #expect(history.allSatisfy { Self.isTime($0["started_at"]) && Self.isTime($0["ended_at"]) })
            #expect(step["attempts"] == 2)
        }
    }

    @Test("a sleep's and a wait's until are times; a wait shows the event it got, an invoke the invoked function's output")
    func stepsShowWhatTheyMean() async throws {
        let harness = try HTTPHarness()
        let client = harness.client
        let pricing = try client.createFunction(id: "pricing", trigger: .event("never/triggered")) { _, _ in
            ["total": 42] as JSON
        }
        try client.createFunction(id: "checkout", trigger: .event("shop/checkout")) { _, step in
            try await step.sleep("nap", for: .seconds(60))
            let paid = try await step.waitForEvent("paid", event: "shop/paid", timeout: .seconds(3600))
            let quote = try await step.invoke("price", function: pricing.function, as: JSON.self)
            return ["paid": paid?.data["amount"] ?? .null, "quote": quote] as JSON
        }
        let start = harness.clock.now()
        let eventID = try await client.send(Event(name: "shop/checkout", data: ["cart": "c1"]))
        try await withAPIServer(client: client, configuration: development) { url in
            _ = try await harness.worker.drain()
            let runID = try #require(try await client.runs(function: "checkout").first?.id)

            // Asleep: the sleep's until is its wake-up time.
            var steps = try #require(try await get("\(url)/v1/runs/\(runID)").json?["data"]?["steps"]?.arrayValue)
            #expect(steps.first?["until"] == RESTRepresentation.time(start + 60_000))
            #expect(steps.first?["output"] == .null, "the step-output format stays inside the engine")

            harness.clock.advance(by: .seconds(60))
            _ = try await harness.worker.drain()
            steps = try #require(try await get("\(url)/v1/runs/\(runID)").json?["data"]?["steps"]?.arrayValue)
            let waiting = try #require(steps.first { $0["id"] == "paid" })
            #expect(waiting["status"] == "waiting")
            #expect(waiting["until"] == RESTRepresentation.time(start + 60_000 + 3_600_000))

            let paidID = try await client.send(Event(name: "shop/paid", data: ["amount": 1999]))
            try await harness.runUntilIdle()

            let run = try #require(try await get("\(url)/v1/runs/\(runID)").json?["data"])
            #expect(run["status"] == "completed")
            #expect(run["output"] == ["paid": 1999, "quote": ["total": 42]])
            steps = try #require(run["steps"]?.arrayValue)
            let received = try #require(steps.first { $0["id"] == "paid" })
            #expect(received["output"]?["internal_id"]?.stringValue == paidID.description)
            #expect(received["output"]?["data"] == ["amount": 1999])
            #expect(Self.isTime(received["output"]?["received_at"]))
            #expect(received["until"] == nil, "a wait that ended has no until")
            let invoke = try #require(steps.first { $0["id"] == "price" })
            #expect(invoke["output"] == ["total": 42], "the invoked function's output, not its end event")
            let invokedRunID = try #require(try await client.runs(function: "pricing").first?.id)
            #expect(invoke["invoked_run_id"]?.stringValue == invokedRunID.description)
            for step in steps {
                #expect(Self.isTime(step["started_at"]) && Self.isTime(step["ended_at"]), "\(step)")
            }
            #expect(try await client.event(id: eventID) != nil)
        }
    }

    @Test("a failed invoke shows the invoked run's error")
    func failedInvoke() async throws {
        let harness = try HTTPHarness()
        let client = harness.client
        let failing = try client.createFunction(
            id: "failing",
            trigger: .event("never/triggered"),
            options: .init(retries: RetryPolicy(retries: 0))
        ) { _, _ in
            throw NonRetriableError("card declined")
        }
        try client.createFunction(id: "caller", trigger: .event("go"), options: .init(retries: RetryPolicy(retries: 0))) { _, step in
            do {
                _ = try await step.invoke("charge", function: failing.function, as: JSON.self)
            } catch is StepError {}
        }
        try await client.send(Event(name: "go"))
        try await harness.runUntilIdle()
        let runID = try #require(try await client.runs(function: "caller").first?.id)
        try await withAPIServer(client: client, configuration: development) { url in
            let steps = try #require(try await get("\(url)/v1/runs/\(runID)").json?["data"]?["steps"]?.arrayValue)
            let invoke = try #require(steps.first { $0["id"] == "charge" })
            #expect(invoke["output"] == .null)
            #expect(invoke["error"]?["message"]?.stringValue?.contains("card declined") == true, "\(invoke)")
            #expect(invoke["invoked_run_id"] != nil)
        }
    }

    @Test("a cancelled run says why: through the API, by cancelOn, by a timeout")
    func cancelReasons() async throws {
        let harness = try HTTPHarness()
        let client = harness.client
        try client.createFunction(
            id: "reminder",
            trigger: .event("cart/abandoned"),
            options: .init(cancelOn: [.event("cart/checked-out", match: "data.cart")])
        ) { _, step in
            try await step.sleep("wait", for: .seconds(3600))
        }
        try client.createFunction(
            id: "slow",
            trigger: .event("slow/start"),
            options: .init(timeouts: FunctionTimeouts(finish: .seconds(10)))
        ) { _, step in
            try await step.sleep("long", for: .seconds(3600))
        }
        try await client.send([
            Event(name: "cart/abandoned", data: ["cart": "a"]), Event(name: "cart/abandoned", data: ["cart": "b"]),
            Event(name: "slow/start"),
        ])
        _ = try await harness.worker.drain()
        let reminders = try await client.runs(function: "reminder")
        let byCart = try await withThrowingTaskGroup(of: (String, RunID).self) { group in
            for run in reminders {
                group.addTask { (try await client.event(id: run.eventID)?.data["cart"]?.stringValue ?? "", run.id) }
            }
            return try await group.reduce(into: [String: RunID]()) { $0[$1.0] = $1.1 }
        }
        let viaAPI = try #require(byCart["a"])
        let viaCancelOn = try #require(byCart["b"])
        try await withAPIServer(client: client, configuration: development) { url in
            #expect(try await request(.POST, "\(url)/v1/runs/\(viaAPI)/cancel").status == 200)
            try await client.send(Event(name: "cart/checked-out", data: ["cart": "b"]))
            try await harness.runUntilIdle()
            let slow = try #require(try await client.runs(function: "slow").first?.id)
            for (runID, reason) in [(viaAPI, "api"), (viaCancelOn, "cancelOn"), (slow, "timeouts.finish")] {
                let run = try #require(try await get("\(url)/v1/runs/\(runID)").json?["data"])
                #expect(run["status"] == "cancelled", "\(reason)")
                #expect(run["cancel_reason"]?.stringValue == reason, "\(run)")
                #expect(try await client.run(id: runID)?.error == .runCancelled(reason: reason))
            }
        }
    }

    @Test("GET /v1/functions lists what each app registered, with triggers, schedules and cancelOn")
    func functionsListing() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let shop = StepwiseClient(id: "shop", store: store, logger: quietLogger())
        try shop.createFunction(id: "receipt", trigger: .event("shop/checkout"), .event("shop/refund*")) { _, _ in }
        try shop.createFunction(id: "nightly", trigger: .cron("0 2 * * *", timeZone: "Europe/Paris")) { _, _ in }
        try await shop.registerFunctions()
        let billing = StepwiseClient(id: "billing", store: store, logger: quietLogger())
        try billing.createFunction(id: "charge", trigger: .event("billing/due"), options: .init(cancelOn: [.event("billing/paid")])) { _, _ in }
        try await billing.registerFunctions()

        let functions = try await shop.functions()
        #expect(functions.map { "\($0.appID)/\($0.id)" } == ["billing/charge", "shop/nightly", "shop/receipt"])
        #expect(functions[2].triggers.map(\.description) == ["shop/checkout", "shop/refund*"])
        #expect(functions[1].schedules.first?.expression == "0 2 * * *")
        #expect(functions[1].schedules.first?.timeZone == "Europe/Paris")
        #expect(functions[1].schedules.first?.nextAt != nil)
        #expect(functions[0].cancelOn.map(\.eventName) == ["billing/paid"])
        #expect(try await StepwiseClient(id: "x", store: store, configuration: .init(environment: "other")).functions().isEmpty)

        try await withAPIServer(client: shop, configuration: development) { url in
            let listed = try #require(try await get("\(url)/v1/functions").json?["data"]?.arrayValue)
            #expect(listed.count == 3)
            #expect(listed[2]["app_id"] == "shop" && listed[2]["id"] == "receipt")
            #expect(listed[2]["triggers"] == ["shop/checkout", "shop/refund*"])
            #expect(listed[1]["schedules"]?[0]?["cron"] == "0 2 * * *")
            #expect(Self.isTime(listed[1]["schedules"]?[0]?["next_at"]))
            #expect(listed[0]["cancel_on"] == ["billing/paid"])
            #expect(Self.isTime(listed[0]["registered_at"]))
        }
    }

    @Test("stepwise runs show prints times, the wait's until and a cancelled run's reason; functions list shows each app's functions")
    func toolShowsRunsAndFunctions() async throws {
        let directory = try TemporaryDirectory()
        let database = directory.path("nested/folders/runs.db")
        let clock = ManualClock()
        let client = StepwiseClient(
            id: "shop", store: try .sqlite(path: database), configuration: .init(clock: clock), logger: quietLogger())
        try client.createFunction(id: "patient", trigger: .event("shop/checkout")) { _, step in
            _ = try await step.waitForEvent("paid", event: "shop/paid", timeout: .seconds(3600))
        }
        try await client.send([Event(name: "shop/checkout"), Event(name: "shop/checkout")])
        let worker = client.worker()
        _ = try await worker.drain()
        let runs = try await client.runs(function: "patient")
        #expect(runs.count == 2)
        try await client.cancelRun(runs[1].id)

        let waiting = try runCommand(stepwiseTool, ["runs", "show", runs[0].id.description, "--db", database])
        #expect(waiting.status == 0, "\(waiting.stderr)")
        let shown = try JSON(parsing: waiting.stdout)
        #expect(shown["steps"]?[0]?["until"] == RESTRepresentation.time(clock.now() + 3_600_000))
        #expect(Self.isTime(shown["created_at"]))

        let cancelled = try runCommand(stepwiseTool, ["runs", "show", runs[1].id.description, "--db", database])
        #expect(try JSON(parsing: cancelled.stdout)["cancel_reason"] == "api", "\(cancelled.stdout)")

        let table = try runCommand(stepwiseTool, ["functions", "list", "--db", database])
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("APP_ID") == true)
        #expect(lines.contains { $0.hasPrefix("shop") && $0.contains("patient") && $0.contains("shop/checkout") }, "\(table.stdout)")
        let json = try runCommand(stepwiseTool, ["functions", "list", "--db", database, "--json"])
        #expect(try JSON(parsing: json.stdout)["data"]?[0]?["id"] == "patient")
        #expect(try runCommand(stepwiseTool, ["functions", "list", "--help"]).status == 0)
    }

    @Test("the tool escapes what a terminal would act on, and keeps JSON valid")
    func unprintableOutput() throws {
        let hostile = "red\u{1B}[31m bell\u{07} csi\u{9B}2J rtl\u{202E}txt sep\u{2028} nul\u{0} ok é 👨‍👩‍👧"
        let quoted = Output.quoted(hostile)
        #expect(!quoted.unicodeScalars.contains { Output.isUnprintable($0) })
        #expect(quoted.contains(#"\u001b"#) && quoted.contains(#"\u009b"#) && quoted.contains(#"\u202e"#) && quoted.contains(#"\u2028"#))
        #expect(try JSON(parsing: quoted) == .string(hostile), "still JSON, and the same string")
        #expect(Output.pretty(["k\u{1B}": .string(hostile)]).unicodeScalars.allSatisfy { !Output.isUnprintable($0) || $0 == "\n" })
        let printable = Output.printable(hostile)
        #expect(!printable.unicodeScalars.contains { Output.isUnprintable($0) })
        #expect(printable.contains(#"\u{1B}"#) && printable.contains(#"\u{9B}"#) && printable.contains("é 👨‍👩‍👧"))
        #expect(Output.printable("plain") == "plain")
    }

    @Test("the tool's tables and event listings escape stored data")
    func unprintableStoredData() async throws {
        let directory = try TemporaryDirectory()
        let database = directory.path("hostile.db")
        let client = StepwiseClient(id: "shop", store: try .sqlite(path: database), logger: quietLogger())
        let id = try await client.send(Event(name: "shop/note", data: ["note": "\u{9B}2J\u{202E}gnp.exe"]))
        let shown = try runCommand(stepwiseTool, ["events", "show", id.description, "--db", database])
        #expect(shown.status == 0)
        #expect(!shown.stdout.unicodeScalars.contains { Output.isUnprintable($0) && $0 != "\n" }, "\(shown.stdout)")
        #expect(shown.stdout.contains(#"\u009b2J\u202egnp.exe"#))
    }
}
