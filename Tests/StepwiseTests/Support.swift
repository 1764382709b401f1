import Foundation
import Synchronization
@testable import Stepwise
import StepwiseTesting

/// A fresh directory for one test's database files, removed when the test ends.
struct TemporaryDirectory: ~Copyable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("stepwise-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// The store a test gets when it asks for none: SQLite in memory, or, with
/// `STEPWISE_TEST_STORE=in-memory` in the environment, StepwiseTesting's `InMemoryStore`, or
/// with `STEPWISE_TEST_STORE=postgres`, a ``PostgresTestStore`` on the server of
/// `STEPWISE_TEST_POSTGRES_URL`, so that the engine's tests can be run on every store
/// (`STEPWISE_TEST_STORE=in-memory swift test --filter StepwiseTests`).
func freshTestStore() throws -> any Store {
    if ProcessInfo.processInfo.environment["STEPWISE_TEST_STORE"] == "in-memory" {
        return InMemoryStore()
    }
    if ProcessInfo.processInfo.environment["STEPWISE_TEST_STORE"] == "postgres" {
        return try PostgresTestStore()
    }
    return try SQLiteStore(.init(path: nil))
}

func makeClient(
    store: (any Store)? = nil,
    clock: any WallClock = ManualClock(),
    environment: String = "default",
    dedupeWindow: Duration = .seconds(86_400),
    limits: EventLimits = .default,
    userEncryption: UserEncryption = .plaintext
) throws -> StepwiseClient {
    let store = try store ?? freshTestStore()
    return StepwiseClient(
        id: "test-app", store: store,
        configuration: .init(
            environment: environment, dedupeWindow: dedupeWindow, limits: limits, clock: clock, userEncryption: userEncryption))
}

/// Every event of an environment, oldest first, read page by page.
func allEvents(_ store: any Store, environment: String = "default") async throws -> [StoredEvent] {
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
