import Foundation
import InMemoryLogging
import Logging
import Testing
@testable import Stepwise
@testable import StepwiseHTTP
import StepwiseTesting

/// Short deadlines, so that each test waits a fraction of a second for them.
let quickLimits = StepwiseServerLimits(
    headerTimeout: .milliseconds(400), idleTimeout: .milliseconds(600), bodyTimeout: .milliseconds(600), maxConnections: 64)

/// The start of an HTTP answer: its status code, or `nil` when nothing that looks like one came.
func statusCode(_ answer: [UInt8]) -> Int? {
    let text = answer.text
    guard text.hasPrefix("HTTP/1.1 ") else { return nil }
    return Int(text.dropFirst(9).prefix(3))
}

/// The JSON body at the end of an answer.
func jsonBody(_ answer: [UInt8]) -> JSON? {
    let text = answer.text
    guard let start = text.range(of: "\r\n\r\n") else { return nil }
    return try? JSON(parsing: String(text[start.upperBound...]))
}

/// Seconds since `start`.
func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

@Suite("Hostile clients: deadlines and the connection cap")
struct DeadlineTests {
    @Test("a connection that says nothing is closed once its header deadline passes, without an answer")
    func silentConnection() async throws {
        try await withAPIServer(client: try makeClient(), configuration: development, limits: quickLimits) { url in
            let (bytes, closed, elapsed) = try await blocking {
                let connection = try RawConnection(url)
                let start = ContinuousClock.now
                let (bytes, closed) = connection.receive(for: .seconds(4))
                return (bytes, closed, seconds(since: start))
            }
            #expect(closed, "the server still holds a silent connection")
            #expect(bytes.isEmpty)
            #expect(elapsed < 3)
        }
    }

    @Test("a head sent a byte at a time is answered 408 once the header deadline passes")
    func slowHead() async throws {
        try await withAPIServer(client: try makeClient(), configuration: development, limits: quickLimits) { url in
            let (answer, elapsed) = try await blocking {
                let connection = try RawConnection(url)
                let start = ContinuousClock.now
                var answer: [UInt8] = []
                for byte in "GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8 {
                    guard seconds(since: start) < 4, connection.send([byte]) else { break }
                    let received = connection.receive(for: .milliseconds(50))
                    answer += received.bytes
                    if received.closed { break }
                }
                answer += connection.receive(for: .seconds(1)).bytes
                return (answer, seconds(since: start))
            }
            #expect(statusCode(answer) == 408, "\(answer.text)")
            #expect(jsonBody(answer)?["status"] == 408)
            #expect(elapsed < 3)
        }
    }

    @Test("a connection idle between requests is closed after the idle timeout")
    func idleKeepAlive() async throws {
        try await withAPIServer(client: try makeClient(), configuration: development, limits: quickLimits) { url in
            let (first, idle, elapsed) = try await blocking {
                let connection = try RawConnection(url)
                connection.send("GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                let first = connection.receive(for: .seconds(3)) { $0.text.contains("\"cursor\"") }
                let start = ContinuousClock.now
                let idle = connection.receive(for: .seconds(4))
                return (first.bytes, idle.closed, seconds(since: start))
            }
            #expect(statusCode(first) == 200, "\(first.text)")
            #expect(idle, "the server still holds an idle connection")
            #expect(elapsed < 3)
        }
    }

    @Test("a body that trickles in is answered 408 once the body deadline passes, and nothing is stored")
    func slowBody() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: development, limits: quickLimits) { url in
            let (answer, elapsed) = try await blocking {
                let connection = try RawConnection(url)
                let body = Array(#"{"name": "slow", "data": {"padding": "\#(String(repeating: "x", count: 200))"}}"#.utf8)
                connection.send("POST /e/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\n\r\n")
                let start = ContinuousClock.now
                var answer: [UInt8] = []
                for byte in body {
                    // Each byte well within the idle timeout: only a deadline on the whole body stops this.
                    guard seconds(since: start) < 5, connection.send([byte]) else { break }
                    let received = connection.receive(for: .milliseconds(40))
                    answer += received.bytes
                    if received.closed { break }
                }
                answer += connection.receive(for: .seconds(1)).bytes
                return (answer, seconds(since: start))
            }
            #expect(statusCode(answer) == 408, "\(answer.text)")
            #expect(elapsed < 3.5)
            #expect(try await storedEvents(client.store).isEmpty)
        }
    }

    @Test("past the connection cap a client waits for a slot, which the deadlines free, and is then served")
    func connectionCap() async throws {
        var limits = quickLimits
        limits.maxConnections = 2
        try await withAPIServer(client: try makeClient(), configuration: development, limits: limits) { url in
            // Timed from the silent connections' opening: their header deadline (0.4 s), which
            // starts no earlier, is what frees a slot, however late the next client starts.
            let opened = ContinuousClock.now
            let silent = try (0..<2).map { _ in try RawConnection(url) }
            try await Task.sleep(for: .milliseconds(100))
            let (status, waited) = try await blocking {
                let connection = try RawConnection(url)
                connection.send("GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                let answer = connection.receive(for: .seconds(5)) { $0.text.contains("\"cursor\"") }
                return (statusCode(answer.bytes), seconds(since: opened))
            }
            #expect(status == 200)
            #expect(waited >= 0.39, "served before a slot was freed: the cap did not hold (\(waited) s)")
            #expect(waited < 4)
            _ = silent
        }
    }
}

@Suite("Hostile clients: refused bodies, Expect, malformed requests, vanished clients")
struct ConnectionEndTests {
    @Test("after a 413 the connection closes: the refused body is not read on")
    func closesAfter413() async throws {
        var configuration = development
        configuration.maxRequestBytes = 64 << 10
        // The header and body deadlines well past the quick ones: on a machine loaded by the
        // rest of the suite, one passed once before the 413 was written, and the answer was
        // its 408. The 413 is owed as soon as the headers are read; the deadlines only have
        // to be longer than that takes.
        var limits = quickLimits
        limits.headerTimeout = .seconds(2)
        limits.bodyTimeout = .seconds(2)
        try await withAPIServer(client: try makeClient(), configuration: configuration, limits: limits) { url in
            let (answer, written, elapsed) = try await blocking {
                let connection = try RawConnection(url)
                connection.send("POST /e/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000000\r\n\r\n")
                let chunk = [UInt8](repeating: UInt8(ascii: " "), count: 64 << 10)
                var written = 0
                var answer: [UInt8] = []
                let start = ContinuousClock.now
                while seconds(since: start) < 4 {
                    guard let sent = connection.sendWithoutWaiting(chunk) else { break }
                    written += sent
                    let received = connection.receive(for: .milliseconds(sent == 0 ? 20 : 1))
                    answer += received.bytes
                    if received.closed { break }
                }
                let elapsed = seconds(since: start)
                answer += connection.receive(for: .milliseconds(300)).bytes
                return (answer, written, elapsed)
            }
            #expect(statusCode(answer) == 413, "\(answer.text.prefix(300))")
            #expect(answer.text.lowercased().contains("connection: close"))
            #expect(elapsed < 3, "the connection stayed open")
            #expect(written < 256 << 20, "the server read \(written) bytes of a refused body")
        }
    }

    @Test("Expect: 100-continue is answered at once, and the body then accepted")
    func expectContinue() async throws {
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: development, limits: quickLimits) { url in
            let (interim, answer) = try await blocking {
                let connection = try RawConnection(url)
                let body = #"{"name": "expected", "data": {}}"#
                connection.send("POST /e/x HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
                let interim = connection.receive(for: .milliseconds(500)) { $0.text.contains("\r\n\r\n") }.bytes
                connection.send(body)
                let answer = connection.receive(for: .seconds(3)) { $0.text.contains("\"ids\"") }.bytes
                return (interim, answer)
            }
            #expect(interim.text.hasPrefix("HTTP/1.1 100 Continue\r\n"), "\(interim.text)")
            #expect(answer.text.contains("\"ids\""), "\(answer.text)")
            #expect(try await storedEvents(client.store).map(\.name) == ["expected"])
        }
    }

    @Test("headers over the limit and conflicting lengths are answered in the JSON error shape")
    func malformedRequests() async throws {
        try await withAPIServer(client: try makeClient(), configuration: development, limits: quickLimits) { url in
            let (tooLarge, conflicting) = try await blocking {
                let huge = try RawConnection(url)
                huge.send("GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: \(String(repeating: "h", count: 100_000))\r\n\r\n")
                let tooLarge = huge.receive(for: .seconds(3)) { $0.text.contains("}") }.bytes
                let twice = try RawConnection(url)
                twice.send("POST /e/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{}")
                let conflicting = twice.receive(for: .seconds(3)) { $0.text.contains("}") }.bytes
                return (tooLarge, conflicting)
            }
            #expect(statusCode(tooLarge) == 431, "\(tooLarge.text.prefix(300))")
            #expect(jsonBody(tooLarge)?["status"] == 431)
            #expect(jsonBody(tooLarge)?["error"]?.stringValue?.contains("headers") == true)
            #expect(statusCode(conflicting) == 400, "\(conflicting.text)")
            #expect(jsonBody(conflicting)?["status"] == 400)
            #expect(jsonBody(conflicting)?["error"]?.stringValue?.contains("Content-Length") == true, "\(conflicting.text)")
        }
    }

    @Test("a client that vanishes mid-body is no server error in the log")
    func vanishedClient() async throws {
        var handler = InMemoryLogHandler()
        handler.logLevel = .trace
        let logger = Logger(label: "server", factory: { _ in handler })
        let client = try makeClient()
        try await withAPIServer(client: client, configuration: development, limits: quickLimits, logger: logger) { url in
            try await blocking {
                let reset = try RawConnection(url)
                reset.send("POST /e/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{\"name\": ")
                Thread.sleep(forTimeInterval: 0.1)
                reset.reset()
                let closed = try RawConnection(url)
                closed.send("POST /e/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n[{\"name\": \"a\", \"data\": {}}")
                Thread.sleep(forTimeInterval: 0.1)
                shutdown(closed.descriptor, Int32(SHUT_WR))
                _ = closed.receive(for: .seconds(1))
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let serious = handler.entries.filter { $0.level >= .error }
        #expect(serious.isEmpty, "\(serious.map(\.message))")
        #expect(!handler.entries.contains { $0.message.description.hasPrefix("POST /e/*** 500") })
        #expect(try await storedEvents(client.store).isEmpty)
    }
}
