import Foundation
import Stepwise
import StepwisePostgres
import Testing

/// Worker processes on one PostgreSQL schema, killed with SIGKILL and stopped with SIGSTOP
/// at random moments: the store's guarantees across processes (claims by SKIP LOCKED,
/// commits fenced by the lease token, one event per sendEvent step, one run per event) as
/// seen by the engine when the processes are real and die for real.
@Suite("PostgreSQL worker crashes", .enabled(if: PostgresTestServer.enabled), .serialized)
struct PostgresWorkerCrashTests {
    static let producers = 120
    /// How long the stopped worker stays stopped: past its 1 s leases (StepwiseTestChild's
    /// worker), long enough for another worker's 50 ms poll to claim them over.
    static let stopFor: Duration = .milliseconds(2500)

    @Test("three workers, one SIGKILLed and restarted, one SIGSTOPped past its leases: every run once, nothing committed by a lost lease")
    func killAndStop() async throws {
        let schema = PostgresTestServer.uniqueSchema("crash")
        let configuration = try PostgresTestServer.configuration(schema: schema)
        let url = try PostgresTestServer.url(schema: schema, poolSize: 6)
        let directory = try TemporaryDirectory()
        let log = directory.path("steps.log")
        let started = ContinuousClock.now
        try await PostgresTestServer.withStore(configuration) { store in
            let workload = CrashWorkload(store: store, count: Self.producers)
            let arguments = ["worker", "--postgres", url, log]
            var killed = try ChildProcess(arguments)
            let stopped = try ChildProcess(arguments)
            let steady = try ChildProcess(arguments)
            for child in [killed, stopped, steady] {
                try #require(try await child.nextLine() == "ready", "a worker process did not start")
            }

            // The workload arrives over about three seconds, while the workers are killed and
            // stopped, rather than all at once before.
            let sending = Task {
                for n in 0..<Self.producers {
                    try await workload.send(n)
                    try await Task.sleep(for: .milliseconds(20))
                }
            }

            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(90)
            var kills = 0
            var stops = 0
            var stalled: (pid: Int32, linesBefore: Int)?
            var leaseLost = false
            /// Kills the first worker and starts it again, after a random while.
            func killAndRestart() async throws {
                try await Task.sleep(for: .milliseconds(Int.random(in: 150...600)))
                killed.kill()
                kills += 1
                killed = try ChildProcess(arguments)
                try #require(try await killed.nextLine() == "ready", "the killed worker did not start again")
            }

            // Stops the second worker while it runs a step body, past its leases, then
            // resumes it, until it is seen to lose a lease (at most three times): a stop that
            // caught it with nothing in flight proves nothing.
            while !leaseLost, stops < 3 {
                try #require(clock.now < deadline, "the workload did not finish in time")
                let linesBefore = try await waitForStart(of: stopped.pid, log: log, deadline: deadline)
                stopped.stop()
                stops += 1
                stalled = (stopped.pid, linesBefore)
                let resumeAt = clock.now + Self.stopFor
                while clock.now < resumeAt { try await killAndRestart() }
                stopped.resume()
                // Its renewals and commits come at once on resuming; give them a moment.
                try await Task.sleep(for: .milliseconds(500))
                leaseLost = try CrashWorkload.lines(log).contains { words in
                    words[0] == "interrupted" && words[3] == "\(stopped.pid)" && words.last == "leaseLost"
                }
            }
            #expect(leaseLost, "the stopped worker never lost a lease in \(stops) stops: the test proved nothing")

            // Then more kills until the work is done.
            try await sending.value
            while try await !workload.allDone() {
                try #require(clock.now < deadline, "the workload did not finish in time after \(kills) kills")
                if kills < 8 {
                    try await killAndRestart()
                } else {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            killed.kill()
            stopped.kill()
            steady.kill()
            #expect(kills >= 2, "the workload finished before the kills; the test proved nothing")
            print("PostgresWorkerCrashTests.killAndStop: \(kills) kills, \(stops) stops, \(ContinuousClock.now - started)")
            try await workload.checkInvariants(log: log, stalled: stalled)

            // The worker nobody touched took part: three workers shared the schema.
            let pids = Set(try CrashWorkload.lines(log).filter { $0[0] == "ran" }.map { $0[3] })
            #expect(pids.contains("\(steady.pid)"))
        }
    }

    /// Waits until `pid` logs the start of a step body (so that it holds a lease), and
    /// returns how many lines the log had then.
    func waitForStart(of pid: Int32, log: String, deadline: ContinuousClock.Instant) async throws -> Int {
        let seen = try CrashWorkload.lines(log).count
        while ContinuousClock.now < deadline {
            let lines = try CrashWorkload.lines(log)
            if lines.dropFirst(seen).contains(where: { $0[0] == "start" && $0[3] == "\(pid)" }) { return lines.count }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw PostgresTestSetupError(message: "worker \(pid) started no step body before the deadline")
    }
}
