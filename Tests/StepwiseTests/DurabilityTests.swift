import Foundation
import Synchronization
import Testing
@testable import Stepwise

/// Tests that run real child processes on a real database file.
@Suite("Durability across processes")
struct DurabilityTests {
    @Test("every id send returned survives SIGKILL of the sender", arguments: 0..<3)
    func killAfterSend(round: Int) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("crash.db")
        let child = try ChildProcess(["send-forever", path])

        // Let it send for a random while, then kill it mid-stream: at a random point of the
        // loop (in validation, in the commit, between the commit and the print).
        let target = Int.random(in: 20...400)
        var printed: [String] = []
        while printed.count < target, let line = try await child.nextLine() {
            printed.append(line)
        }
        child.kill()
        // Lines already written to the pipe before the kill are also sent ids.
        while let line = try await child.nextLine() { printed.append(line) }
        #expect(printed.count >= target, "the child died before sending \(target) events")

        let store = try SQLiteStore(.init(path: path))
        let stored = Set(try await allEvents(store).map(\.id.description))
        let lost = printed.filter { !stored.contains($0) }
        #expect(lost.isEmpty, "ids returned by send but not stored: \(lost.prefix(5))")
        #expect(Set(printed).count == printed.count)
    }

    @Test("many connections opening a new file at once all succeed")
    func concurrentOpen() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("new.db")
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            do {
                _ = try SQLiteStore(.init(path: path))
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
    }

    @Test("two processes append to one file, and nothing is lost")
    func twoProcesses() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("shared.db")
        let count = 200
        let first = try ChildProcess(["append", path, "\(count)", "proc/a"])
        let second = try ChildProcess(["append", path, "\(count)", "proc/b"])
        #expect(try await first.nextLine() == "done")
        #expect(try await second.nextLine() == "done")
        #expect(await first.exitStatus() == 0)
        #expect(await second.exitStatus() == 0)

        let store = try SQLiteStore(.init(path: path))
        let events = try await allEvents(store)
        #expect(events.count == 4 * count)
        #expect(Set(events.map(\.id)).count == events.count)
        for tag in ["proc/a", "proc/b"] {
            let page = try await store.events(EventQuery(name: tag, limit: 1000))
            #expect(page.events.count == 2 * count)
        }
    }
}

/// A running `StepwiseTestChild`, its stdout read line by line.
final class ChildProcess {
    private let process: Process
    private let lines: AsyncThrowingStream<String, any Error>
    private var iterator: AsyncThrowingStream<String, any Error>.AsyncIterator

    init(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = builtExecutable("StepwiseTestChild")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        let handle = pipe.fileHandleForReading
        lines = AsyncThrowingStream { continuation in
            Thread.detachNewThread {
                var buffer = Data()
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    buffer.append(chunk)
                    while let newline = buffer.firstIndex(of: 0x0A) {
                        let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                        buffer.removeSubrange(buffer.startIndex...newline)
                        continuation.yield(line)
                    }
                }
                continuation.finish()
            }
        }
        iterator = lines.makeAsyncIterator()
        try process.run()
        self.process = process
    }

    func nextLine() async throws -> String? {
        try await iterator.next()
    }

    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func exitStatus() async -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}
