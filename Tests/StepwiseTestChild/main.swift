// A child process for the tests that need a real process to kill or to run beside another.
//
//     StepwiseTestChild send-forever DB     sends events one at a time, printing each id
//                                           after send returns, until killed
//     StepwiseTestChild append DB COUNT TAG sends COUNT events named TAG, then prints "done"
//     StepwiseTestChild worker DB LOG       runs the crash-test functions until killed or
//                                           sent SIGTERM, appending what step bodies do to LOG
//     StepwiseTestChild flow-worker DB LOG  runs a function limited to 2 runs per key at once,
//                                           logging when each body enters and leaves
//     StepwiseTestChild dashboard-worker DB runs the functions of the dashboard's browser
//                                           tests (DashboardWorker.swift) until SIGTERM
//
// DB is a SQLite file's path, or `--postgres URL` for a PostgresStore on that server (the
// URL names the schema, `?schema=…`). A PostgreSQL store must be running to serve, so in that
// mode every command runs the store in a ServiceGroup (listed before the worker, as an app
// would), and `append` keeps serving after "done" until SIGTERM or a kill: its store sends
// the change feed's NOTIFY a few milliseconds after the commit, and a process that exited at
// once could take that wake-up with it.

import Foundation
import Logging
import ServiceLifecycle
import Stepwise
import StepwisePostgres

/// Writes a line straight to the pipe (write(2), no buffer), so that the parent reads it
/// even if this process is killed a moment later.
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: StepwiseTestChild send-forever|append|worker DB|--postgres URL [COUNT TAG | LOG]\n".utf8))
    exit(2)
}

var logger = Logger(label: "stepwise-test-child")
logger.logLevel = ProcessInfo.processInfo.environment["STEPWISE_TEST_CHILD_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical

var arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 2 else { usage() }
let command = arguments.removeFirst()
let postgres: PostgresStore?
let store: any Store
if arguments.first == "--postgres" {
    guard arguments.count >= 2 else { usage() }
    let url = arguments[1]
    arguments.removeFirst(2)
    let opened = try PostgresStore(try PostgresStore.Configuration(url: url), logger: logger)
    postgres = opened
    store = opened
} else {
    store = try .sqlite(path: arguments.removeFirst())
    postgres = nil
}
let client = StepwiseClient(id: "test-child", store: store)

/// Runs `services`, after the PostgreSQL store when there is one, in a group that SIGTERM
/// shuts down; `body` runs once the store serves. Returns when the group ends.
func serving(
    _ services: [any Service], postgres: PostgresStore?, logger: Logger, _ body: () async throws -> Void
) async throws {
    if postgres == nil, services.isEmpty { return try await body() }
    let group = ServiceGroup(services: (postgres.map { [$0] } ?? []) + services, gracefulShutdownSignals: [.sigterm], logger: logger)
    let running = Task { try await group.run() }
    do {
        try await postgres?.waitUntilReady()
        try await body()
    } catch {
        running.cancel()
        throw error
    }
    try await running.value
}

switch command {
case "send-forever":
    guard arguments.isEmpty else { usage() }
    try await serving([], postgres: postgres, logger: logger) {
        var n: Int64 = 0
        while true {
            let id = try await client.send(Event(name: "crash/sent", data: ["n": .int(n), "pid": .int(Int64(getpid()))]))
            // Printed only after send returned: every id printed must survive the kill.
            emit(id.description)
            n += 1
        }
    }
case "append":
    guard arguments.count == 2, let count = Int(arguments[0]) else { usage() }
    let tag = arguments[1]
    let append = {
        for n in 0..<count {
            if n % 10 == 0 {
                try await client.send((0..<10).map { Event(name: tag, data: ["n": .int(Int64(n + $0)), "batch": true]) })
            }
        }
        for n in 0..<count {
            try await client.send(Event(name: tag, data: ["n": .int(Int64(n))]))
        }
        emit("done")
    }
    try await serving([], postgres: postgres, logger: logger, append)
case "worker":
    guard arguments.count == 1 else { usage() }
    try await runCrashWorker(client: client, log: StepLog(path: arguments[0]), postgres: postgres, logger: logger)
case "flow-worker":
    guard arguments.count == 1 else { usage() }
    try await runFlowWorker(client: client, log: StepLog(path: arguments[0]), postgres: postgres, logger: logger)
case "dashboard-worker":
    guard arguments.isEmpty else { usage() }
    try await runDashboardWorker(client: client, postgres: postgres, logger: logger)
default:
    usage()
}

/// Appends lines to a file shared by several processes: one write(2) per line with
/// O_APPEND, so lines from different processes never interleave.
final class StepLog: Sendable {
    let fd: Int32

    init(path: String) {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
    }

    func append(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}

/// Runs step `id` as `step.run`, and logs what happened, for the parent's invariants:
/// `start` when the body begins; `ran` when step.run returned the result of the body run in
/// this process (so this process committed it: at most one such line per step, whichever
/// workers lost leases); `committed` whenever step.run returned (after a replay too); and
/// `interrupted` with the error when it threw (a lost lease, a store that failed).
@discardableResult @Sendable
func loggedRun<Value: Codable & Sendable>(
    _ step: Step, _ id: String, log: StepLog, pid: Int32, _ body: () async throws -> Value
) async throws -> Value {
    var bodyRan = false
    do {
        let value = try await step.run(id) { () -> Value in
            log.append("start \(step.runID) \(id) \(pid)")
            bodyRan = true
            return try await body()
        }
        if bodyRan { log.append("ran \(step.runID) \(id) \(pid)") }
        log.append("committed \(step.runID) \(id) \(pid)")
        return value
    } catch {
        log.append("interrupted \(step.runID) \(id) \(pid) \(error)")
        throw error
    }
}

/// The crash test's functions: a producer that runs a step, sends an event from a step and
/// runs another step; and a consumer of that event, logged by ``loggedRun``.
func runCrashWorker(client: StepwiseClient, log: StepLog, postgres: PostgresStore?, logger: Logger) async throws {
    let pid = getpid()
    try client.createFunction(id: "producer", trigger: .event("crash/start"), options: .init(retries: RetryPolicy(retries: 20, backoff: .constant(.milliseconds(50))))) { event, step in
        let n = event.data["n"]?.intValue ?? -1
        let doubled = try await loggedRun(step, "compute", log: log, pid: pid) { () -> Int64 in
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...40)))
            return n * 2
        }
        let ids: [EventID]
        do {
            ids = try await step.sendEvent("emit", [Event(name: "crash/emitted", data: ["n": .int(n), "doubled": .int(doubled)])])
        } catch {
            log.append("interrupted \(step.runID) emit \(pid) \(error)")
            throw error
        }
        log.append("committed \(step.runID) emit \(pid) \(ids)")
        // A `perform` step, as it records: `null`.
        try await loggedRun(step, "after", log: log, pid: pid) { () -> JSON in
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...40)))
            return .null
        }
        return n
    }
    try client.createFunction(id: "consumer", trigger: .event("crash/emitted"), options: .init(retries: RetryPolicy(retries: 20, backoff: .constant(.milliseconds(50))))) { event, step in
        try await loggedRun(step, "consume", log: log, pid: pid) { () -> Int64 in
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...30)))
            return event.data["n"]?.intValue ?? -1
        }
    }
    let worker = client.worker(.init(concurrency: 4, leaseDuration: .seconds(1), pollInterval: .milliseconds(50)))
    try await serving([worker], postgres: postgres, logger: logger) {
        // From now on an event sent by the parent creates runs: it may start sending.
        try await client.registerFunctions()
        emit("ready")
    }
}

/// A function with a concurrency key (2 runs per key at once) whose body logs `enter` and
/// `leave` with the run, key, process and a system-wide monotonic time in nanoseconds, so that
/// the parent can check the limit held across every process on the store.
func runFlowWorker(client: StepwiseClient, log: StepLog, postgres: PostgresStore?, logger: Logger) async throws {
    let pid = getpid()
    try client.createFunction(
        id: "limited", trigger: .event("flow/job"), options: .init(concurrency: [.init(limit: 2, key: "event.data.k")])
    ) { event, step in
        let key = event.data["k"]?.stringValue ?? ""
        try await step.perform("work") {
            log.append("enter \(step.runID) \(key) \(pid) \(DispatchTime.now().uptimeNanoseconds)")
            try await Task.sleep(for: .milliseconds(Int.random(in: 20...60)))
            log.append("leave \(step.runID) \(key) \(pid) \(DispatchTime.now().uptimeNanoseconds)")
        }
    }
    // Fewer slots than the 8 the keys allow, so that both processes take work.
    let worker = client.worker(.init(concurrency: 3, pollInterval: .milliseconds(50)))
    try await serving([worker], postgres: postgres, logger: logger) {
        try await client.registerFunctions()
        emit("ready")
    }
}
