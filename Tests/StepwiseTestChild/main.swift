// A child process for the tests that need a real process to kill or to run beside another.
//
//     StepwiseTestChild send-forever DB     sends events one at a time, printing each id
//                                           after send returns, until killed
//     StepwiseTestChild append DB COUNT TAG sends COUNT events named TAG, then prints "done"
//     StepwiseTestChild worker DB LOG       runs the crash-test functions until killed or
//                                           sent SIGTERM, appending what step bodies do to LOG

import Foundation
import Logging
import ServiceLifecycle
import Stepwise

/// Writes a line straight to the pipe (write(2), no buffer), so that the parent reads it
/// even if this process is killed a moment later.
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: StepwiseTestChild send-forever|append DB [COUNT TAG]\n".utf8))
    exit(2)
}
let client = StepwiseClient(id: "test-child", store: try .sqlite(path: arguments[2]))

switch arguments[1] {
case "send-forever":
    var n: Int64 = 0
    while true {
        let id = try await client.send(Event(name: "crash/sent", data: ["n": .int(n), "pid": .int(Int64(getpid()))]))
        // Printed only after send returned: every id printed must survive the kill.
        emit(id.description)
        n += 1
    }
case "append":
    guard arguments.count == 5, let count = Int(arguments[3]) else { exit(2) }
    let tag = arguments[4]
    for n in 0..<count {
        if n % 10 == 0 {
            try await client.send((0..<10).map { Event(name: tag, data: ["n": .int(Int64(n + $0)), "batch": true]) })
        }
    }
    for n in 0..<count {
        try await client.send(Event(name: tag, data: ["n": .int(Int64(n))]))
    }
    emit("done")
case "worker":
    guard arguments.count == 4 else { exit(2) }
    try await runCrashWorker(client: client, log: StepLog(path: arguments[3]))
default:
    exit(2)
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

/// The crash test's functions: a producer that runs a step, sends an event from a step and
/// runs another step; and a consumer of that event. Step bodies log when they start, and the
/// function logs once a step returned (so after its result committed).
func runCrashWorker(client: StepwiseClient, log: StepLog) async throws {
    let pid = getpid()
    try client.createFunction(id: "producer", trigger: .event("crash/start"), options: .init(retries: RetryPolicy(retries: 20, backoff: .constant(.milliseconds(50))))) { event, step in
        let n = event.data["n"]?.intValue ?? -1
        let doubled = try await step.run("compute") { () -> Int64 in
            log.append("start \(step.runID) compute \(pid)")
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...40)))
            return n * 2
        }
        log.append("committed \(step.runID) compute \(pid)")
        let ids = try await step.sendEvent("emit", Event(name: "crash/emitted", data: ["n": .int(n), "doubled": .int(doubled)]))
        log.append("committed \(step.runID) emit \(pid) \(ids)")
        try await step.perform("after") {
            log.append("start \(step.runID) after \(pid)")
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...40)))
        }
        log.append("committed \(step.runID) after \(pid)")
        return n
    }
    try client.createFunction(id: "consumer", trigger: .event("crash/emitted"), options: .init(retries: RetryPolicy(retries: 20, backoff: .constant(.milliseconds(50))))) { event, step in
        try await step.run("consume") { () -> Int64 in
            log.append("start \(step.runID) consume \(pid)")
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...30)))
            return event.data["n"]?.intValue ?? -1
        }
        log.append("committed \(step.runID) consume \(pid)")
    }
    let worker = client.worker(.init(concurrency: 4, leaseDuration: .seconds(1), pollInterval: .milliseconds(50)))
    var logger = Logger(label: "crash-worker")
    logger.logLevel = .critical
    let group = ServiceGroup(services: [worker], gracefulShutdownSignals: [.sigterm], logger: logger)
    // From now on an event sent by the parent creates runs: it may start sending.
    try await client.registerFunctions()
    emit("ready")
    try await group.run()
}
