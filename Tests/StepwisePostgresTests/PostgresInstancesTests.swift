import Stepwise
import StepwiseTesting
@testable import StepwisePostgres
import Testing

/// Two instances of an app on one database: what one instance caches must never hide what the
/// other committed.
@Suite("PostgreSQL store, two instances", .enabled(if: PostgresTestServer.enabled))
struct PostgresInstancesTests {
    /// Runs `body` with two started stores on one schema.
    private func withTwoInstances(_ body: @Sendable (PostgresStore, PostgresStore) async throws -> Void) async throws {
        let configuration = try PostgresTestServer.configuration()
        try await PostgresTestServer.withStore(configuration) { first in
            let second = try PostgresStore(configuration, logger: PostgresTestServer.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await second.run() }
                defer { group.cancelAll() }
                try await second.waitUntilReady()
                try await body(first, second)
            }
        }
    }

    @Test("a function registered through one instance is triggered by the next event sent through the other")
    func registrationReachesTheOtherInstance() async throws {
        try await withTwoInstances { first, second in
            let sender = StepwiseClient(id: "sender-app", store: first)
            // The first instance reads (and keeps) the environment's triggers: none yet.
            try await sender.send(Event(name: "orders/placed"))
            let receiver = StepwiseClient(id: "receiver-app", store: second)
            try receiver.createFunction(id: "on-order", trigger: .event("orders/placed")) { _, _ in }
            try await receiver.registerFunctions()
            let id = try await sender.send(Event(name: "orders/placed"))
            let runs = try await second.runs(RunQuery(environment: "default", eventID: id))
            #expect(runs.map(\.functionID) == ["on-order"])
        }
    }

    @Test("a wait made through one instance is resolved by an event sent through the other")
    func waitReachesTheOtherInstance() async throws {
        try await withTwoInstances { first, second in
            let sender = StepwiseClient(id: "sender-app", store: first)
            try await sender.send(Event(name: "warm/up"))
            let clock = ManualClock()
            let waiter = StepwiseClient(id: "waiter-app", store: second, configuration: .init(clock: clock))
            try waiter.createFunction(id: "await-payment", trigger: .event("orders/placed")) { event, step in
                _ = try await step.waitForEvent("paid", event: "payments/settled", timeout: .seconds(3600))
            }
            try await waiter.send(Event(name: "orders/placed"))
            _ = try await waiter.worker().drain()
            let run = try #require(try await waiter.runs(function: "await-payment").first)
            #expect(run.status == .waiting)
            try await sender.send(Event(name: "payments/settled"))
            let resumed = try #require(try await second.run(id: run.id, environment: "default"))
            #expect(resumed.status == .queued)
        }
    }
}
