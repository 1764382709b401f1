import Foundation
import InMemoryTracing
import Metrics
import MetricsTestKit
import Testing
import Tracing
@testable import Stepwise
import StepwiseTesting

/// Metrics and spans, recorded by a factory and a tracer given to one client: never the
/// process-global bootstrap, so that tests running side by side each read their own.
@Suite("Metrics and tracing")
struct ObservabilityTests {
    /// An in-memory tracer with random ids, so that two tracers (two processes) never make
    /// the same trace id by counting alike.
    static func tracer() -> InMemoryTracer {
        InMemoryTracer(idGenerator: .init(nextTraceID: { UUID().uuidString }, nextSpanID: { UUID().uuidString }))
    }

    static func client(
        store: any Store, clock: ManualClock, metrics: TestMetrics = TestMetrics(), tracer: InMemoryTracer = tracer()
    ) -> StepwiseClient {
        StepwiseClient(
            id: "test-app", store: store,
            configuration: .init(clock: clock, userEncryption: .plaintext, metricsFactory: metrics, tracer: tracer))
    }

    static func function(_ id: String) -> [(String, String)] {
        [("stepwise.app.id", "test-app"), ("stepwise.function.id", id)]
    }

    @Test("events sent, duplicates, and runs started, completed, failed and cancelled are counted by function")
    func runCounters() async throws {
        let metrics = TestMetrics()
        let clock = ManualClock()
        let client = Self.client(store: try freshTestStore(), clock: clock, metrics: metrics)
        try client.createFunction(id: "ok", trigger: .event("t/ok")) { _, step in
            try await step.run("work") { 1 }
        }
        try client.createFunction(id: "boom", trigger: .event("t/boom")) { _, _ -> Int in
            throw NonRetriableError("no")
        }
        try client.createFunction(id: "slow", trigger: .event("t/slow")) { _, step in
            try await step.sleep("nap", for: .seconds(3600))
            return 1
        }
        try await client.send([Event(name: "t/ok"), Event(name: "t/ok"), Event(name: "t/boom"), Event(name: "t/slow")])
        try await client.send(Event(name: "t/none", id: "once"))
        try await client.send(Event(name: "t/none", id: "once"))
        clock.advance(by: .seconds(2))
        _ = try await client.worker().drain()
        let slow = try #require(try await client.runs(function: "slow").first)
        #expect(try await client.cancelRun(slow.id))

        let messaging = [("messaging.system", "stepwise"), ("messaging.operation.name", "send"), ("stepwise.app.id", "test-app")]
        #expect(try metrics.expectCounter(StepwiseMetrics.Name.sentMessages, messaging).totalValue == 5)
        #expect(try metrics.expectCounter(StepwiseMetrics.Name.deduplicated, [("stepwise.app.id", "test-app")]).totalValue == 1)
        #expect(try metrics.expectTimer(StepwiseMetrics.Name.sendDuration, messaging).values.count == 3)
        for (function, started) in [("ok", 2), ("boom", 1), ("slow", 1)] {
            #expect(try metrics.expectCounter(StepwiseMetrics.Name.runsStarted, Self.function(function)).totalValue == Int64(started))
        }
        func ended(_ function: String, _ status: String) throws -> Int64 {
            try metrics.expectCounter(StepwiseMetrics.Name.runsEnded, Self.function(function) + [("stepwise.run.status", status)]).totalValue
        }
        #expect(try ended("ok", "completed") == 2)
        #expect(try ended("boom", "failed") == 1)
        #expect(try ended("slow", "cancelled") == 1)
        #expect(try ended("ok", "failed") == 0)
        let steps = try metrics.expectTimer(StepwiseMetrics.Name.stepDuration, Self.function("ok") + [("stepwise.step.kind", "run")])
        #expect(steps.values.count == 2)
        let durations = try metrics.expectTimer(StepwiseMetrics.Name.runDuration, Self.function("ok") + [("stepwise.run.status", "completed")])
        #expect(durations.values == [2_000_000_000, 2_000_000_000], "creation to end, on the test's clock")
        let delays = try metrics.expectTimer(StepwiseMetrics.Name.claimDelay, Self.function("ok") + [("stepwise.claim.reason", "new")])
        #expect(delays.values == [2_000_000_000, 2_000_000_000], "due at the send, claimed two seconds later")
        #expect(try metrics.expectMeter(StepwiseMetrics.Name.executionsActive, Self.function("ok")).lastValue == 0)
    }

    @Test("the age of the oldest due run is sampled from the store: 0 when none is due")
    func dueAge() async throws {
        let metrics = TestMetrics()
        let clock = ManualClock()
        let client = Self.client(store: try freshTestStore(), clock: clock, metrics: metrics)
        try client.createFunction(id: "later", trigger: .event("t/later")) { _, step in try await step.run("x") { 1 } }
        let worker = client.worker()
        try await client.registerFunctions()
        await worker.sampleDueAgeOnce()
        let gauge = try metrics.expectGauge(StepwiseMetrics.Name.dueAge, [("stepwise.app.id", "test-app")])
        #expect(gauge.lastValue == 0)
        try await client.send(Event(name: "t/later"))
        clock.advance(by: .seconds(30))
        await worker.sampleDueAgeOnce()
        #expect(gauge.lastValue == 30)
    }

    @Test("a lease another worker took is counted as lost, by function")
    func leaseLost() async throws {
        let metrics = TestMetrics()
        let clock = ManualClock()
        let client = Self.client(store: try freshTestStore(), clock: clock, metrics: metrics)
        try client.createFunction(id: "stolen", trigger: .event("t/stolen")) { _, step in
            try await step.run("stall") { () -> Int in
                // The worker stalls past its lease, and another claims the run meanwhile.
                clock.advance(by: .seconds(60))
                _ = try await client.store.claim(ClaimRequest(
                    environment: "default", appID: "test-app", functionIDs: ["stolen"], owner: "thief", now: clock.now(),
                    leaseDuration: 60_000, limit: 1))
                return 1
            }
        }
        try await client.send(Event(name: "t/stolen"))
        _ = try await client.worker().drain()
        #expect(try metrics.expectCounter(StepwiseMetrics.Name.leasesLost, Self.function("stolen")).totalValue == 1)
    }

    @Test("one trace follows send, the run, its step, its sendEvent and the run that event starts")
    func traceThroughRuns() async throws {
        let tracer = Self.tracer()
        let clock = ManualClock()
        let client = Self.client(store: try freshTestStore(), clock: clock, tracer: tracer)
        try Self.checkoutFunctions(client, receiptAt: nil)
        try await client.send(Event(name: "shop/checkout"))
        _ = try await client.worker().drain()

        let spans = tracer.finishedSpans
        let send = try #require(spans.first { $0.operationName == "send shop/checkout" })
        #expect(send.kind == .producer)
        try Self.expectCheckoutTrace(in: spans, under: send)
        let sendReceipt = try #require(spans.first { $0.operationName == "send shop/receipt" })
        let receipt = try #require(spans.first { $0.operationName == "run receipt" })
        #expect(receipt.traceID == send.traceID && receipt.parentSpanID == sendReceipt.spanID)
        let render = try #require(spans.first { $0.operationName == "step render" })
        #expect(render.traceID == send.traceID && render.parentSpanID == receipt.spanID)
    }

    @Test("the trace goes on after a restart: a new client on the same file continues it from the stored context")
    func traceAcrossRestart() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("stepwise.db")
        let clock = ManualClock()
        let receiptAt = clock.now() + 3_600_000

        // The process that sends, under a request's span of its own.
        let sender = Self.tracer()
        let first = Self.client(store: try SQLiteStore(.init(path: path)), clock: clock, tracer: sender)
        try Self.checkoutFunctions(first, receiptAt: receiptAt)
        let request = sender.startSpan("POST /checkout", context: .topLevel, ofKind: .server)
        try await ServiceContext.withValue(request.context) {
            _ = try await first.send(Event(name: "shop/checkout"))
        }
        request.end()
        let send = try #require(sender.finishedSpans.first { $0.operationName == "send shop/checkout" })
        #expect(send.traceID == request.context.inMemorySpanContext?.traceID && send.parentSpanID == request.context.inMemorySpanContext?.spanID)

        // A worker process, started later on the same file, runs the checkout.
        let worker = Self.tracer()
        let second = Self.client(store: try SQLiteStore(.init(path: path)), clock: clock, tracer: worker)
        try Self.checkoutFunctions(second, receiptAt: receiptAt)
        _ = try await second.worker().drain()
        try Self.expectCheckoutTrace(in: worker.finishedSpans, under: send)
        #expect(!worker.finishedSpans.contains { $0.operationName == "run receipt" }, "the receipt is due in an hour")
        let sendReceipt = try #require(worker.finishedSpans.first { $0.operationName == "send shop/receipt" })

        // An hour on, a third process runs the receipt: still the checkout's trace.
        clock.advance(by: .seconds(3600))
        let later = Self.tracer()
        let third = Self.client(store: try SQLiteStore(.init(path: path)), clock: clock, tracer: later)
        try Self.checkoutFunctions(third, receiptAt: receiptAt)
        _ = try await third.worker().drain()
        let receipt = try #require(later.finishedSpans.first { $0.operationName == "run receipt" })
        #expect(receipt.traceID == send.traceID, "one trace from the request to the receipt")
        #expect(receipt.parentSpanID == sendReceipt.spanID)
        #expect(receipt.kind == .consumer)
    }

    /// `checkout` charges, then sends `shop/receipt` (due at `receiptAt` when given); `receipt`
    /// renders it.
    static func checkoutFunctions(_ client: StepwiseClient, receiptAt: Int64?) throws {
        try client.createFunction(id: "checkout", trigger: .event("shop/checkout")) { _, step in
            _ = try await step.run("charge") { 42 }
            try await step.sendEvent("receipt", Event(name: "shop/receipt", data: ["cart": "c1"], ts: receiptAt))
        }
        try client.createFunction(id: "receipt", trigger: .event("shop/receipt")) { _, step in
            try await step.run("render") { "receipt" }
        }
    }

    /// The checkout run's span is a child of `send`, and its step's and sendEvent's spans are
    /// children of the run's.
    static func expectCheckoutTrace(in spans: [FinishedInMemorySpan], under send: FinishedInMemorySpan) throws {
        let run = try #require(spans.first { $0.operationName == "run checkout" })
        #expect(run.traceID == send.traceID && run.parentSpanID == send.spanID, "the run continues the sender's trace")
        #expect(run.kind == .consumer)
        #expect(run.attributes["stepwise.function.id"]?.toSpanAttribute() == "checkout")
        let charge = try #require(spans.first { $0.operationName == "step charge" })
        #expect(charge.traceID == send.traceID && charge.parentSpanID == run.spanID)
        let sendReceipt = try #require(spans.first { $0.operationName == "send shop/receipt" })
        #expect(sendReceipt.traceID == send.traceID && sendReceipt.parentSpanID == run.spanID && sendReceipt.kind == .producer)
    }
}
