import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import Stepwise
import StepwiseHTTP
import Synchronization

/// `stepwise-bench hostile`: what hostile clients cost a Stepwise server, measured: whether a
/// new client is served while thousands of silent connections are open, the server's memory
/// with a thousand uploads stalled halfway, and its memory while eight clients list a thousand
/// large events each.
///
/// The server runs in this process, with the limits `stepwise dev` has (or those given), and
/// every client connects to 127.0.0.1 only. Memory is this process's resident set (VmRSS),
/// which holds the server; the clients' bytes wait in the kernel's socket buffers.
struct HostileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hostile",
        abstract: "Silent connections, stalled uploads and large listings against a server with its default limits.",
        discussion: """
            Raises this process's open-file limit (ulimit -n, within the hard limit) to hold the clients' sockets \
            as well as the server's. Stops by itself: every wait is bounded.
            """
    )

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case silent, stalled, listings
    }

    @Option(help: "The scenarios to run: silent, stalled, listings (all by default).")
    var scenario: [Scenario] = Scenario.allCases

    @Option(help: "Silent connections to open.")
    var silent = 2000

    @Option(help: "Uploads to stall.")
    var stalled = 1000

    @Option(help: "Bytes each stalled upload sends of its 1 MiB body before it stops.")
    var stalledBytes = 1_000_000

    @Option(help: "Events of 256 KiB to list.")
    var events = 1000

    @Option(help: "Listings run at once, each of every event, limit=1000 a page.")
    var listings = 8

    @Option(help: "The server's connection cap in the silent scenario (512: the default under ulimit -n 1024).")
    var maxConnections = 512

    @Option(help: "Seconds a request's head may take (the server's default: 10).")
    var headerTimeout: Double = 10

    @Option(help: "Seconds a connection may stay open between requests (the server's default: 60).")
    var idleTimeout: Double = 60

    @Option(help: "Seconds a request's body may take (the server's default: 60).")
    var bodyTimeout: Double = 60

    @Option(help: "Directory for the database files (a fresh temporary one by default).")
    var directory: String?

    func limits(maxConnections: Int) -> StepwiseServerLimits {
        StepwiseServerLimits(
            headerTimeout: .milliseconds(Int64(headerTimeout * 1000)), idleTimeout: .milliseconds(Int64(idleTimeout * 1000)),
            bodyTimeout: .milliseconds(Int64(bodyTimeout * 1000)), maxConnections: maxConnections)
    }

    func run() async throws {
        let wanted = max(silent, stalled) + max(maxConnections, stalled + 64) + 512
        let openFiles = raiseOpenFileLimit(to: wanted)
        print("stepwise-bench hostile: open-file limit (ulimit -n) \(openFiles), raised by setrlimit if it was under the \(wanted) needed; RSS at start \(format(residentMemoryMiB()))")
        let workspace = try Workspace(directory: directory)
        for scenario in scenario {
            switch scenario {
            case .silent: try await silentConnections(workspace)
            case .stalled: try await stalledUploads(workspace)
            case .listings: try await largeListings(workspace)
            }
        }
    }

    // MARK: Silent connections

    private func silentConnections(_ workspace: Workspace) async throws {
        let (client, router) = try server(workspace)
        _ = client
        let limits = limits(maxConnections: maxConnections)
        let count = silent
        let deadline = idleTimeout + headerTimeout * 2
        let (served, closedSilent) = try await withLoopbackServer(router, logger: quietLogger, limits: limits) { url in
            let port = Int(url.split(separator: ":").last ?? "") ?? 0
            return try await onOwnThread { () throws -> (Double?, Int) in
                let sockets = try (0..<count).map { _ in try LoopbackSocket(port: port) }
                Thread.sleep(forTimeInterval: 1)
                let start = ContinuousClock.now
                let newcomer = try LoopbackSocket(port: port)
                let request = Array("GET /v1/events?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
                var sent = 0
                var answer: [UInt8] = []
                var served: Double?
                while seconds(since: start) < deadline {
                    if sent < request.count {
                        guard let count = newcomer.send(request[sent...]) else { break }
                        sent += count
                        if count == 0 { Thread.sleep(forTimeInterval: 0.01) }
                        continue
                    }
                    guard let bytes = newcomer.receive(waiting: 50) else { break }
                    answer += bytes
                    if String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 200") {
                        served = seconds(since: start)
                        break
                    }
                }
                let closed = sockets.count { $0.receive(waiting: 0) == nil }
                sockets.forEach { $0.close() }
                return (served, closed)
            }
        }
        print("""
            silent: \(count) silent connections to a server capped at \(limits.maxConnections), header timeout \(headerTimeout) s, \
            idle timeout \(idleTimeout) s: a new client was \(served.map { "served after \(String(format: "%.1f", $0)) s" } ?? "NOT served within \(deadline) s"); \
            \(closedSilent) silent connections had been closed by the server by then
            """)
    }

    // MARK: Stalled uploads

    private func stalledUploads(_ workspace: Workspace) async throws {
        let (_, router) = try server(workspace)
        // Every upload is accepted (none waits in the kernel's queue), so that each costs the server what it can.
        let limits = limits(maxConnections: max(maxConnections, stalled + 64))
        let count = stalled, bodyBytes = stalledBytes
        let before = residentMemoryMiB()
        let (sent, peak) = try await withLoopbackServer(router, logger: quietLogger, limits: limits) { url in
            let port = Int(url.split(separator: ":").last ?? "") ?? 0
            return try await onOwnThread { () throws -> (Int, Double) in
                let head = "POST /e/bench HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n"
                let prefix = #"{"name": "bench/stalled", "data": {"padding": ""#
                let upload = Array((head + prefix).utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: max(0, bodyBytes - prefix.utf8.count))
                let sockets = try (0..<count).map { _ in try LoopbackSocket(port: port) }
                var offsets = [Int](repeating: 0, count: count)
                var peak = residentMemoryMiB() ?? 0
                let start = ContinuousClock.now
                // Send until every upload has sent its share or the kernel takes no more, for at most 20 s.
                var progressed = true
                while progressed, seconds(since: start) < 20 {
                    progressed = false
                    for (index, socket) in sockets.enumerated() where offsets[index] < upload.count {
                        guard let sent = socket.send(upload[offsets[index]..<min(upload.count, offsets[index] + 65536)]) else {
                            offsets[index] = upload.count
                            continue
                        }
                        offsets[index] += sent
                        if sent > 0 { progressed = true }
                    }
                    if !progressed, seconds(since: start) < 3 {
                        progressed = true
                        Thread.sleep(forTimeInterval: 0.05)
                    }
                    peak = max(peak, residentMemoryMiB() ?? 0)
                }
                // Then stall, and watch the server's memory for five seconds.
                for _ in 0..<50 {
                    Thread.sleep(forTimeInterval: 0.1)
                    peak = max(peak, residentMemoryMiB() ?? 0)
                }
                sockets.forEach { $0.close() }
                return (offsets.reduce(0, +), peak)
            }
        }
        print("""
            stalled: \(count) uploads of a 1 MiB body stalled after up to \(bodyBytes) bytes each (\(sent / 1_000_000) MB sent in all, \
            the rest refused by full socket buffers), server capped at \(limits.maxConnections) connections: \
            peak RSS \(format(peak)) (\(format(before)) before)
            """)
    }

    // MARK: Large listings

    private func largeListings(_ workspace: Workspace) async throws {
        let (client, router) = try server(workspace)
        let (event, eventBytes) = Self.largeEvent()
        for _ in 0..<events { try await client.send(event) }
        // The writes' garbage back to the system, so that what follows measures the listings alone.
        returnFreeMemoryToSystem()
        let before = residentMemoryMiB() ?? 0
        let limits = limits(maxConnections: max(maxConnections, 64))
        let listingCount = listings
        let peak = PeakMemory(Int(before * 1024))
        let (pages, listed, elapsed) = try await withLoopbackServer(router, logger: quietLogger, limits: limits) { url in
            try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                let sampling = Task {
                    while !Task.isCancelled {
                        if let rss = residentMemoryMiB() { peak.record(Int(rss * 1024)) }
                        try? await Task.sleep(for: .milliseconds(10))
                    }
                }
                let start = ContinuousClock.now
                for _ in 0..<listingCount {
                    group.addTask { try await Self.listEverything(url) }
                }
                var pages = 0, listed = 0
                for try await (p, l) in group {
                    pages += p
                    listed += l
                }
                sampling.cancel()
                return (pages, listed, seconds(since: start))
            }
        }
        print("""
            listings: \(listingCount) listings at once of \(events) events of \(eventBytes / 1024) KiB (limit=1000 a page): \
            \(listed) events in \(pages) pages in \(String(format: "%.1f", elapsed)) s; peak RSS \(format(Double(peak.kilobytes) / 1024)) \
            (\(format(before)) before)
            """)
    }

    /// Lists every event, following the cursor: the pages and events read.
    private static func listEverything(_ url: String) async throws -> (Int, Int) {
        var cursor: String?
        var pages = 0, listed = 0
        repeat {
            let request = HTTPClientRequest(url: "\(url)/v1/events?limit=1000" + (cursor.map { "&cursor=\($0)" } ?? ""))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
            let body = try await response.body.collect(upTo: 256 << 20)
            let page = try JSON(parsing: body.readableBytesView)
            listed += page["data"]?.arrayValue?.count ?? 0
            cursor = page["cursor"]?.stringValue
            pages += 1
        } while cursor != nil
        return (pages, listed)
    }

    /// An event just under the default limit of 256 KiB: half numbers (which cost the most
    /// once parsed), half text.
    static func largeEvent() -> (Event, bytes: Int) {
        let numbers = JSON.array((0..<22_000).map { .int(Int64($0)) })
        let data: JSON = ["numbers": numbers, "text": .string(String(repeating: "x", count: 128 * 1024))]
        return (Event(name: "bench/large", data: data), data.serializedUTF8.count)
    }

    private func server(_ workspace: Workspace) throws -> (StepwiseClient, Router<BasicRequestContext>) {
        let store = try SQLiteStore(.init(path: workspace.freshPath(), durability: .normal))
        let client = StepwiseClient(id: "bench", store: store, logger: quietLogger)
        return (client, StepwiseHTTPAPI(client: client, configuration: StepwiseHTTPConfiguration(isDevelopment: true)).router())
    }

    private var quietLogger: Logger {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        return logger
    }

    private func format(_ mebibytes: Double?) -> String {
        mebibytes.map { String(format: "%.0f MiB", $0) } ?? "n/a"
    }
}

/// The largest resident set seen, in KiB, by a sampling task while the work runs.
private final class PeakMemory: Sendable {
    private let value: Atomic<Int>

    init(_ kilobytes: Int) { value = Atomic(kilobytes) }

    func record(_ kilobytes: Int) { value.max(kilobytes, ordering: .relaxed) }

    var kilobytes: Int { value.load(ordering: .relaxed) }
}

/// Seconds since `start`.
private func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}
