import Foundation
import Testing
@testable import Stepwise
import StepwiseTesting

@Suite("Cron")
struct CronTests {
    /// Milliseconds of a UTC date and time.
    func utc(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0) -> Int64 {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let date = calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute))!
        return Int64(date.timeIntervalSince1970 * 1000)
    }

    @Test("expressions parse and find their next tick", arguments: [
        ("*/5 * * * *", "UTC", (2027, 1, 15, 10, 7), (2027, 1, 15, 10, 10)),
        ("0 9 * * MON-FRI", "UTC", (2027, 1, 15, 10, 0), (2027, 1, 18, 9, 0)),  // Friday 10:00 → Monday 09:00
        ("30 2 1 * *", "UTC", (2027, 1, 15, 0, 0), (2027, 2, 1, 2, 30)),
        ("0 0 * JAN,JUL SUN", "UTC", (2027, 1, 15, 0, 0), (2027, 1, 17, 0, 0)),
        ("15 10 * * 7", "UTC", (2027, 1, 15, 0, 0), (2027, 1, 17, 10, 15)),  // 7 is Sunday too
        ("0 12 * * *", "Europe/Paris", (2027, 1, 15, 12, 0), (2027, 1, 16, 11, 0)),  // noon in Paris is 11:00 UTC in winter
        ("TZ=America/New_York 0 12 * * *", "UTC", (2027, 7, 1, 0, 0), (2027, 7, 1, 16, 0)),  // summer: UTC-4
        // Both day fields restricted: the 13th, or any Friday (Vixie cron's OR). 2027-01-01 is a Friday.
        ("0 0 13 * 5", "UTC", (2027, 1, 1, 0, 0), (2027, 1, 8, 0, 0)),
        ("0 0 13 * 5", "UTC", (2027, 1, 9, 0, 0), (2027, 1, 13, 0, 0)),
    ] as [(String, String, (Int, Int, Int, Int, Int), (Int, Int, Int, Int, Int))])
    func next(expression: String, zone: String, after: (Int, Int, Int, Int, Int), expected: (Int, Int, Int, Int, Int)) throws {
        let schedule = try CronSchedule(expression, timeZone: zone)
        let from = utc(after.0, after.1, after.2, after.3, after.4)
        #expect(schedule.next(after: from) == utc(expected.0, expected.1, expected.2, expected.3, expected.4))
    }

    @Test("a local time skipped by daylight saving is skipped")
    func daylightSaving() throws {
        // On 2027-03-28 Paris skips 02:00-03:00.
        let schedule = try CronSchedule("30 2 * * *", timeZone: "Europe/Paris")
        let next = try #require(schedule.next(after: utc(2027, 3, 27, 12, 0)))
        #expect(next == utc(2027, 3, 29, 0, 30), "02:30 on the 29th (CEST, UTC+2), not a made-up time on the 28th")
    }

    @Test("bad expressions are refused with the field named", arguments: [
        ("* * * *", "5 fields"), ("60 * * * *", "minute"), ("* 24 * * *", "hour"), ("* * 0 * *", "day-of-month"),
        ("* * * 13 *", "month"), ("* * * * 8", "day-of-week"), ("*/0 * * * *", "step"), ("5-1 * * * *", "backwards"),
        ("* * * * FUNDAY", "day-of-week"), ("a * * * *", "minute"),
    ])
    func invalid(expression: String, reason: String) {
        #expect {
            _ = try CronSchedule(expression)
        } throws: { error in
            "\(error)".contains(reason)
        }
        #expect(throws: CronScheduleError.self) { try CronSchedule("* * * * *", timeZone: "Mars/Olympus") }
    }

    @Test("createFunction refuses an invalid cron trigger")
    func invalidTrigger() throws {
        let harness = try Harness()
        #expect(throws: FunctionDefinitionError.self) {
            try harness.client.createFunction(id: "bad", trigger: .cron("61 * * * *")) { event, step in }
        }
    }

    @Test("a worker looks for due ticks only when one of its functions is scheduled")
    func schedulesReadOnlyWhenScheduled() async throws {
        let store = FaultInjectingStore(try freshTestStore())
        let harness = try Harness(store: store)
        try harness.client.createFunction(id: "on-event", trigger: .event("test/ping")) { event, step in }
        try await harness.client.send(Event(name: "test/ping"))
        try await harness.worker.drain()
        #expect(try await harness.onlyRun(of: "on-event").status == .completed)
        #expect(store.calls(.dueSchedules) == 0)

        try harness.client.createFunction(id: "hourly", trigger: .cron("0 * * * *")) { event, step in }
        try await harness.worker.drain()
        harness.clock.advance(by: .seconds(3600))
        try await harness.worker.drain()
        #expect(store.calls(.dueSchedules) > 0)
        #expect(try await harness.runs(of: "hourly").count == 1)
    }

    @Test("a cron function runs once per tick, and once after downtime")
    func ticksAndDowntime() async throws {
        let harness = try Harness()
        let ticks = Counter()
        try harness.client.createFunction(id: "every-five", trigger: .cron("*/5 * * * *")) { event, step in
            try await step.perform("tick") { ticks.hit("tick") }
            return event.data["scheduled_at"] ?? nil
        }
        // The clock starts at 2027-01-15T08:00:00Z: the first tick is at 08:05.
        let first = try #require(try await harness.worker.drain())
        #expect(first == harness.clock.now() + 5 * 60_000)
        harness.clock.advance(to: first)
        try await harness.worker.drain()
        #expect(ticks["tick"] == 1)
        // Downtime: nobody runs the worker for an hour (twelve ticks).
        harness.clock.advance(by: .seconds(3600))
        let next = try await harness.worker.drain()
        #expect(ticks["tick"] == 2, "the missed ticks made one catch-up run")
        #expect(next == first + 65 * 60_000, "the next tick is the first one after now")
        let runs = try await harness.runs(of: "every-five")
        #expect(runs.count == 2)
        #expect(runs.allSatisfy { $0.status == .completed })
        let timer = try #require(try await harness.client.event(id: runs[0].eventID))
        #expect(timer.name == SystemEvent.scheduledTimer)
    }

    @Test("two workers on one store start one run per tick")
    func oneRunPerTickAcrossWorkers() async throws {
        let directory = try TemporaryDirectory()
        let clock = ManualClock()
        var workers: [Worker] = []
        for _ in 0..<2 {
            let client = StepwiseClient(id: "test-app", store: try SQLiteStore(.init(path: directory.path("cron.db"))), configuration: .init(clock: clock))
            try client.createFunction(id: "hourly", trigger: .cron("0 * * * *")) { event, step in }
            workers.append(client.worker())
        }
        for worker in workers { try await worker.drain() }
        for _ in 0..<3 {
            clock.advance(by: .seconds(3600))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in workers { group.addTask { try await worker.drain() } }
                try await group.waitForAll()
            }
        }
        let runs = try await workers[0].client.store.runs(RunQuery(functionID: "hourly"))
        #expect(runs.count == 3)
    }
}
