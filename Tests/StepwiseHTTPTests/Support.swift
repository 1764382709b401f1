import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Stepwise
import StepwiseHTTP
import StepwiseTesting
import Synchronization

/// A fresh directory for one test's files, removed when the test ends.
struct TemporaryDirectory: ~Copyable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("stepwise-http-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Quiet loggers: the tests read answers, not logs.
func quietLogger(_ label: String = "test") -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .critical
    return logger
}

func makeClient(store: SQLiteStore? = nil, environment: String = "default") throws -> StepwiseClient {
    StepwiseClient(
        id: "test-app", store: try store ?? SQLiteStore(.init(path: nil)),
        // Plain text, as a test's own choice: the Event API's tests send `user` without keys.
        configuration: .init(environment: environment, userEncryption: .plaintext),
        logger: quietLogger())
}

/// Serves `router` on a free loopback port for the duration of `body`, which gets the base URL.
/// With `limits`, the server is built as `stepwise dev` builds it: deadlines, a connection cap.
func withServer<Context: RequestContext>(
    _ router: Router<Context>, logger: Logger = quietLogger(), limits: StepwiseServerLimits? = nil, _ body: (String) async throws -> Void
) async throws where Context.Source == ApplicationRequestContextSource {
    let (ports, portContinuation) = AsyncStream<Int>.makeStream()
    let address = BindAddress.hostname("127.0.0.1", port: 0)
    let app = Application(
        router: router, server: limits?.server ?? .http1(),
        configuration: limits?.applicationConfiguration(address: address) ?? .init(address: address),
        onServerRunning: { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
            portContinuation.finish()
        },
        logger: logger)
    let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: quietLogger()))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestFailure("the server did not start") }
        do {
            try await body("http://127.0.0.1:\(port)")
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}

/// Serves the Stepwise APIs of `client` (with `configuration`) for `body`.
func withAPIServer(
    client: StepwiseClient, configuration: StepwiseHTTPConfiguration, limits: StepwiseServerLimits? = nil, logger: Logger = quietLogger(),
    _ body: (String) async throws -> Void
) async throws {
    try await withServer(StepwiseHTTPAPI(client: client, configuration: configuration).router(), logger: logger, limits: limits, body)
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// An answer, its body parsed.
struct Answer {
    let status: Int
    let headers: HTTPHeaders
    let body: String

    var json: JSON? { try? JSON(parsing: body) }
    var error: String? { json?["error"]?.stringValue }
    var ids: [String] { json?["ids"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
}

/// Makes a real HTTP request with AsyncHTTPClient.
func request(
    _ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, headers: [(String, String)] = []
) async throws -> Answer {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    let buffer = try await response.body.collect(upTo: 16 << 20)
    return Answer(status: Int(response.status.code), headers: response.headers, body: String(buffer: buffer))
}

func post(_ url: String, _ body: String, headers: [(String, String)] = []) async throws -> Answer {
    try await request(.POST, url, body: Array(body.utf8), headers: headers)
}

func get(_ url: String, headers: [(String, String)] = []) async throws -> Answer {
    try await request(.GET, url, headers: headers)
}

/// Every event stored in an environment (system events included), oldest first.
func storedEvents(_ store: any Store, environment: String = "default") async throws -> [StoredEvent] {
    var events: [StoredEvent] = []
    var cursor: EventCursor?
    repeat {
        let page = try await store.events(EventQuery(environment: environment, limit: 1000, cursor: cursor))
        events += page.events
        cursor = page.nextCursor
    } while cursor != nil
    return events.reversed()
}

/// The path of an executable built beside the test bundle.
func builtExecutable(_ name: String) -> URL {
    let selfPath = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return selfPath.deletingLastPathComponent().appendingPathComponent(name)
}
