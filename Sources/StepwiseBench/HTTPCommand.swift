import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Stepwise
import StepwiseHTTP
import StepwiseHTTPClient

/// `stepwise-bench http`: events per second through the Event API over loopback, against
/// in-process `send` of the same events at the same durability, in the same run.
struct HTTPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http",
        abstract: "Events per second over HTTP (http_single, http_batch100) next to in-process send.",
        discussion: """
            The server (Hummingbird, in this process) and the client (HTTPEventSender on AsyncHTTPClient, \
            keep-alive) share the machine, as a sidecar would; requests go one at a time.
            """
    )

    @OptionGroup var options: CommonOptions

    @Option(help: "Events per single-event round.")
    var singles = 1500

    @Option(help: "Events per batch round.")
    var batched = 20_000

    @Flag(help: "Serve with StepwiseServerLimits' defaults (deadlines, connection cap, 4 KiB reads), as stepwise dev does.")
    var limits = false

    func run() async throws {
        let workspace = try Workspace(directory: options.directory)
        let reporter = Reporter(json: options.json)
        reporter.header("http (durability \(options.durability.rawValue), median of \(options.rounds) rounds; baseline: in-process send)")
        for (metric, events, batchSize) in [("http_single", singles, 1), ("http_batch100", batched, 100)] {
            var httpRates: [Double] = []
            var inProcessRates: [Double] = []
            for _ in 0..<options.rounds {
                inProcessRates.append(try await rate(events: events, batchSize: batchSize, workspace: workspace, overHTTP: false))
                httpRates.append(try await rate(events: events, batchSize: batchSize, workspace: workspace, overHTTP: true))
            }
            reporter.report(Measurement(
                workload: "http", metric: metric, value: median(httpRates), unit: "events/s", baseline: median(inProcessRates)))
        }
    }

    private func rate(events: Int, batchSize: Int, workspace: Workspace, overHTTP: Bool) async throws -> Double {
        let durability: SQLiteStore.Durability = options.durability == .full ? .full : .normal
        let store = try SQLiteStore(.init(path: workspace.freshPath(), durability: durability))
        var quiet = Logger(label: "bench")
        quiet.logLevel = .critical
        let client = StepwiseClient(id: "bench", store: store, logger: quiet)
        let batch = Array(repeating: Event(name: "storefront/cart.checkout.completed", data: IngestCommand.payload), count: batchSize)
        func sendAll(_ sender: some EventSender) async throws -> Double {
            try await measure {
                var sent = 0
                while sent < events {
                    try await sender.send(Array(batch.prefix(min(batchSize, events - sent))))
                    sent += batchSize
                }
            }
        }
        guard overHTTP else { return Double(events) / (try await sendAll(client)) }
        let router = StepwiseHTTPAPI(client: client, configuration: StepwiseHTTPConfiguration(isDevelopment: true)).router()
        let seconds = try await withLoopbackServer(router, logger: quiet, limits: limits ? StepwiseServerLimits() : nil) { url in
            let sender = try HTTPEventSender(configuration: .init(baseURL: url, eventKey: "bench"))
            // One request first, so that the connection is open before the clock starts.
            try await sender.send(Event(name: "warm-up"))
            return try await sendAll(sender)
        }
        return Double(events) / seconds
    }
}

/// Serves `router` on a free loopback port while `body` runs; with `limits`, as `stepwise dev`
/// serves it (deadlines, a connection cap).
func withLoopbackServer<Result: Sendable>(
    _ router: Router<BasicRequestContext>, logger: Logger, limits: StepwiseServerLimits? = nil, _ body: (String) async throws -> Result
) async throws -> Result {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let address = BindAddress.hostname("127.0.0.1", port: 0)
    let app = Application(
        router: router, server: limits?.server ?? .http1(),
        configuration: limits?.applicationConfiguration(address: address) ?? .init(address: address),
        onServerRunning: { channel in
            continuation.yield(channel.localAddress?.port ?? 0)
            continuation.finish()
        },
        logger: logger)
    let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CleanExit.message("the server did not start") }
        let result: Result
        do {
            result = try await body("http://127.0.0.1:\(port)")
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return result
    }
}
