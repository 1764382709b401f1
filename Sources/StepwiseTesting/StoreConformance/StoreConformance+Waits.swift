@_spi(StoreImplementation) import Stepwise

extension StoreConformance {
    /// Waits, cancelOn, invoke and schedules, driven by the engine as an app would drive them.
    static var waitCases: [Case] {
        [
            Case("a waiting run is resumed once, by a matching event stored after the wait began") { context in
                let client = context.client()
                try client.createFunction(id: "wait", trigger: .event("order/placed")) { _, step in
                    let paid = try await step.waitForEvent("paid", event: "order/paid", timeout: .seconds(3600), match: "data.order")
                    return paid?.data["amount"] ?? "timed out"
                }
                let worker = client.worker()
                try await client.send(Event(name: "order/paid", data: ["order": "o1", "amount": 1]))  // before: never matches
                try await client.send([Event(name: "order/placed", data: ["order": "o1"]), Event(name: "order/placed", data: ["order": "o2"])])
                _ = try await worker.drain()
                try require(try await context.store.runs(RunQuery(status: .waiting)).count == 2, "both runs wait")
                // Concurrent matching events: one resumes the run, the others find no wait.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for amount in 2...9 {
                        group.addTask { _ = try await client.send(Event(name: "order/paid", data: ["order": "o1", "amount": .int(Int64(amount))])) }
                    }
                    group.addTask { _ = try await client.send(Event(name: "order/paid", data: ["order": "elsewhere", "amount": 100])) }
                    try await group.waitForAll()
                }
                _ = try await worker.drain()
                let runs = try await context.store.runs(RunQuery(functionID: "wait"))
                let completed = runs.filter { $0.status == .completed }
                try require(completed.count == 1, "only o1's run resumed: \(runs.map(\.status))")
                // Which of the racing events is first is the store's to decide (commit order); it
                // must be one sent after the wait began, with the matching field.
                let amount = try unwrap(completed.first?.output?.intValue, "it got an amount")
                try require((2...9).contains(amount), "an event stored after the wait began, for o1: got \(amount)")
                context.clock.advance(by: .seconds(3600))
                _ = try await worker.drain()
                let timedOut = try await context.store.runs(RunQuery(functionID: "wait", status: .completed))
                try require(timedOut.contains { $0.output == "timed out" }, "the other run times out")
            },
            Case("a cancelOn event cancels the matching run in its transaction, once") { context in
                let client = context.client()
                try client.createFunction(
                    id: "remind", trigger: .event("cart/abandoned"), options: .init(cancelOn: [.event("cart/checked-out", match: "data.cart")])
                ) { _, step in
                    try await step.sleep("later", for: .seconds(3600))
                }
                let worker = client.worker()
                try await client.send([Event(name: "cart/abandoned", data: ["cart": "a"]), Event(name: "cart/abandoned", data: ["cart": "b"])])
                _ = try await worker.drain()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<4 { group.addTask { _ = try await client.send(Event(name: "cart/checked-out", data: ["cart": "a"])) } }
                    try await group.waitForAll()
                }
                let runs = try await context.store.runs(RunQuery(functionID: "remind"))
                try require(runs.filter { $0.status == .cancelled }.count == 1, "one run cancelled: \(runs.map(\.status))")
                let cancelledEvents = try await context.allEvents().filter { $0.name == SystemEvent.functionCancelled }
                try require(cancelledEvents.count == 1, "one function.cancelled: \(cancelledEvents.count)")
                try require(runs.contains { $0.status == .sleeping }, "the other cart's run sleeps on")
            },
            Case("a later event of one batch cancels a run an earlier one started, with no other wait about") { context in
                let client = context.client()
                try client.createFunction(
                    id: "remind", trigger: .event("cart/abandoned"), options: .init(cancelOn: [.event("cart/done", match: "data.cart")])
                ) { _, step in
                    try await step.sleep("later", for: .seconds(3600))
                }
                try await client.registerFunctions()
                try await client.send([Event(name: "cart/abandoned", data: ["cart": "c"]), Event(name: "cart/done", data: ["cart": "c"])])
                let run = try unwrap(try await context.store.runs(RunQuery(functionID: "remind")).first, "the run")
                try require(run.status == .cancelled, "the batch's second event cancels it: \(run.status)")
            },
            Case("invoke starts the invoked run once, and the invoking run resumes with its output") { context in
                let client = context.client()
                let price = try client.createFunction(id: "price", trigger: .invokeOnly) { event, _ in
                    (event.data["sku"]?.stringValue ?? "") + ":1999"
                }
                try client.createFunction(id: "quote", trigger: .event("quote/requested")) { _, step in
                    try await step.invoke("price", price, data: ["sku": "s1"])
                }
                try await client.send(Event(name: "quote/requested"))
                try await client.worker().runUntilIdle(advancing: context.clock)
                try require(try await context.store.runs(RunQuery(functionID: "price")).count == 1, "the invoked function ran once")
                let quote = try unwrap(try await context.store.runs(RunQuery(functionID: "quote")).first, "the invoking run")
                try require(quote.status == .completed && quote.output == "s1:1999", "it resumed with the output: \(quote.status)")
            },
            Case("two workers firing one cron tick start one run; after downtime the missed ticks start one") { context in
                let client = context.client()
                try client.createFunction(id: "tick", trigger: .cron("* * * * *")) { _, _ in }
                try await client.registerFunctions()
                context.clock.advance(by: .seconds(60))
                let started = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            try await context.fireDueTicks(functionID: "tick")
                        }
                    }
                    return try await group.reduce(0, +)
                }
                try require(started == 1, "one run for the tick: \(started)")
                context.clock.advance(by: .seconds(600))
                let afterDowntime = try await context.fireDueTicks(functionID: "tick")
                try require(afterDowntime == 1, "one run for the ticks missed: \(afterDowntime)")
                try require(try await context.store.runs(RunQuery(functionID: "tick")).count == 2, "two runs in all")
            },
        ]
    }
}

extension ConformanceContext {
    /// Fires the due ticks of one function's schedules as a worker does: reads what is due,
    /// then fires each tick with its event and run, the tick after it one minute on (the
    /// engine's cron arithmetic is not under test here).
    func fireDueTicks(functionID: String) async throws -> Int {
        let now = clock.now()
        let due = try await store.dueSchedules(environment: "default", appID: "conformance-app", functionIDs: [functionID], now: now)
        let firings = due.map { schedule in
            let event = SystemEvent.scheduledTimer(
                appID: schedule.appID, functionID: schedule.functionID, expression: schedule.expression, timeZone: schedule.timeZone,
                scheduledAt: schedule.nextAt, at: now)
            let run = NewRun.triggered(
                id: RunID(ULIDGenerator.shared.next(milliseconds: now)), appID: schedule.appID, functionID: schedule.functionID,
                settings: FunctionSettings(), by: event, environment: "default", receivedAt: now)
            return ScheduleFiring(schedule: schedule, nextAt: now + 60_000, event: event, run: run)
        }
        return try await store.fire(firings, environment: "default", afterCommit: nil)
    }
}
