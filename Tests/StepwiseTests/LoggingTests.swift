import InMemoryLogging
import Logging
import Testing
@testable import Stepwise
import StepwiseTesting

@Suite("Logging")
struct LoggingTests {
    @Test("run, function and step ids are logged as metadata")
    func metadata() async throws {
        var handler = InMemoryLogHandler()
        handler.logLevel = .debug
        let logger = Logger(label: "test", factory: { _ in handler })
        let clock = ManualClock()
        let client = StepwiseClient(id: "test-app", store: try SQLiteStore(.init(path: nil)), configuration: .init(clock: clock), logger: logger)
        let calls = Counter()
        try client.createFunction(id: "logged", trigger: .event("log/me"), options: .init(retries: fastRetries)) { event, step in
            try await step.run("flaky-step") { () -> Int in
                calls.hit("step")
                if calls["step"] == 1 { throw PaymentDeclined(code: "once") }
                return 1
            }
        }
        try await client.send(Event(name: "log/me"))
        try await client.worker().runUntilIdle(advancing: clock)
        let run = try #require(try await client.store.runs(RunQuery(functionID: "logged")).first)

        let retry = try #require(handler.entries.first { $0.message.description == "step failed, will retry" })
        #expect(retry.level == .notice)
        #expect(retry.metadata["stepwise.run"] == "\(run.id)")
        #expect(retry.metadata["stepwise.function"] == "logged")
        #expect(retry.metadata["stepwise.step"] == "flaky-step")
        #expect(retry.metadata["stepwise.app"] == "test-app")
        #expect(retry.metadata["error"]?.description.contains("card declined (once)") == true)
        #expect(handler.entries.contains { $0.message.description == "run completed" && $0.metadata["stepwise.run"] == "\(run.id)" })
    }

    @Test("a function's code logs through Logger.current with the app, function, run and step in its metadata")
    func currentLoggerInUserCode() async throws {
        var handler = InMemoryLogHandler()
        handler.logLevel = .debug
        let logger = Logger(label: "app", factory: { _ in handler })
        let clock = ManualClock()
        let client = StepwiseClient(id: "shop", store: try SQLiteStore(.init(path: nil)), configuration: .init(clock: clock), logger: logger)
        try client.createFunction(id: "receipts", trigger: .event("shop/checkout")) { _, step in
            Logger.current.info("between steps")
            try await step.perform("render") { Logger.current.info("inside the step") }
        }
        try await client.send(Event(name: "shop/checkout"))
        try await client.worker().runUntilIdle(advancing: clock)
        let run = try #require(try await client.runs(function: "receipts").first)

        let between = try #require(handler.entries.first { $0.message.description == "between steps" })
        #expect(between.metadata["stepwise.app"] == "shop")
        #expect(between.metadata["stepwise.function"] == "receipts")
        #expect(between.metadata["stepwise.run"] == "\(run.id)")
        #expect(between.metadata["stepwise.step"] == nil)
        let inside = try #require(handler.entries.first { $0.message.description == "inside the step" })
        #expect(inside.metadata["stepwise.run"] == "\(run.id)")
        #expect(inside.metadata["stepwise.step"] == "render")
    }
}
