@testable import Stepwise
import StepwiseTesting
import Testing

/// Databases written by every older version open, migrate to the latest schema and work; the
/// data each migration reshapes reads back as it meant.
@Suite("SQLite migrations")
struct SQLiteMigrationTests {
    /// A database at schema `version`, made by the migrations before it, with `rows` inserted.
    private func database(at version: Int, in directory: borrowing TemporaryDirectory, rows: String = "") throws -> String {
        let path = directory.path("v\(version).db")
        let connection = try SQLiteConnection(path: path, readOnly: false)
        try connection.execute("BEGIN")
        for script in SQLiteMigrations.all.prefix(version) { try connection.execute(script) }
        try connection.execute("PRAGMA user_version = \(version)")
        if !rows.isEmpty { try connection.execute(rows) }
        try connection.execute("COMMIT")
        return path
    }

    @Test("a database of every older version migrates and then stores events and runs", arguments: 0..<SQLiteMigrations.latestVersion)
    func everyVersion(version: Int) async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteStore(.init(path: try database(at: version, in: directory)))
        let clock = ManualClock()
        let client = StepwiseClient(id: "app", store: store, configuration: .init(clock: clock))
        try client.createFunction(id: "f", trigger: .event("a")) { _, step in try await step.run("s") { 1 } }
        try await client.send(Event(name: "a"))
        try await client.worker().runUntilIdle(advancing: clock)
        let runs = try await client.runs()
        #expect(runs.count == 1 && runs.first?.status == .completed)
        let connection = try SQLiteConnection(path: directory.path("v\(version).db"), readOnly: true)
        #expect(try connection.scalarInteger("PRAGMA user_version") == Int64(SQLiteMigrations.latestVersion))
    }

    @Test("version 5 moves a function's cancelOn into its settings, and the cancellation still fires")
    func cancelOnMovesIntoSettings() async throws {
        let directory = try TemporaryDirectory()
        let path = try database(at: 4, in: directory, rows: """
            INSERT INTO functions (environment, app_id, function_id, registered_at, cancel_on)
            VALUES ('default', 'app', 'remind', 1800000000000, '[{"event":"cart/paid","match":"data.cart"}]');
            INSERT INTO function_triggers (environment, app_id, function_id, pattern, is_prefix)
            VALUES ('default', 'app', 'remind', 'cart/abandoned', 0);
            """)
        let store = try SQLiteStore(.init(path: path))
        let function = try #require(try await store.functions(environment: "default").first)
        #expect(function.cancelOn == [.event("cart/paid", match: "data.cart")])
        // A process that holds no code for the function (an HTTP server) still starts its runs
        // with their cancellations, from what the store kept.
        let sender = StepwiseClient(id: "sender", store: store, configuration: .init(clock: ManualClock()))
        try await sender.send(Event(name: "cart/abandoned", data: ["cart": "c1"]))
        try await sender.send(Event(name: "cart/paid", data: ["cart": "c1"]))
        let run = try #require(try await store.runs(RunQuery(functionID: "remind")).first)
        #expect(run.status == .cancelled)
    }
}
