import Synchronization
import Testing
import Stepwise
import StepwiseTesting

/// A run's timeline: every attempt of its steps, the failed ones kept apart.
@Suite("Step attempts")
struct StepAttemptTests {
    struct Flaky: Error {}

    @Test("a step that failed twice shows three attempts; one that succeeded at once shows one, from its record alone")
    func timeline() async throws {
        let harness = try Harness()
        let tries = Mutex(0)
        try harness.client.createFunction(
            id: "charge", trigger: .event("order/placed"), options: .init(retries: RetryPolicy(retries: 4, backoff: .constant(.seconds(1))))
        ) { _, step in
            let total = try await step.run("total") { 42 }
            return try await step.run("charge") { () -> Int in
                let attempt = tries.withLock { count in
                    count += 1
                    return count
                }
                if attempt < 3 { throw Flaky() }
                return total
            }
        }
        try await harness.client.send(Event(name: "order/placed"))
        try await harness.runUntilIdle()
        let run = try await harness.onlyRun(of: "charge")
        #expect(run.status == .completed)
        let attempts = try await harness.client.attempts(ofRun: run.id)
        #expect(attempts.map(\.key) == ["total", "charge", "charge", "charge"])
        #expect(attempts.map(\.number) == [1, 1, 2, 3])
        #expect(attempts.map(\.status) == [.completed, .errored, .errored, .completed])
        #expect(attempts[1].error?.name.hasSuffix("Flaky") == true && attempts[3].error == nil)
        // The retries waited their backoff: each attempt starts after the one before ended.
        #expect(attempts[2].startedAt >= attempts[1].endedAt + 1000 && attempts[3].startedAt >= attempts[2].endedAt + 1000)
        // A first try that succeeds costs no row of its own.
        #expect(try await harness.client.store.attempts(runID: run.id).map(\.key) == ["charge", "charge", "charge"])
    }
}
