// A child process for the tests that need a real process to kill or to run beside another.
//
//     StepwiseTestChild send-forever DB     sends events one at a time, printing each id
//                                           after send returns, until killed
//     StepwiseTestChild append DB COUNT TAG sends COUNT events named TAG, then prints "done"

import Foundation
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
default:
    exit(2)
}
