import InMemoryLogging
import Logging
import PostgresNIO
import Stepwise
@testable import StepwisePostgres
import Testing

@Suite("PostgreSQL migrations", .enabled(if: PostgresTestServer.enabled))
struct PostgresMigrationTests {
    /// Starts a store on `configuration` with a logger that keeps what it logs, runs `body`,
    /// and stops the store.
    @discardableResult
    private func withRunningStore<Result: Sendable>(
        _ configuration: PostgresStore.Configuration, handler: InMemoryLogHandler,
        _ body: @Sendable (PostgresStore) async throws -> Result
    ) async throws -> Result {
        var handler = handler
        handler.logLevel = .info
        let store = try PostgresStore(configuration, logger: Logger(label: "migrations", factory: { [handler] _ in handler }))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            try await store.waitUntilReady()
            return try await body(store)
        }
    }

    private func version(_ store: PostgresStore) async throws -> Int {
        var version = 0
        for try await row in try await store.client.query(
            PostgresQuery(unsafeSQL: "SELECT max(version) FROM \(PostgresIdentifier.quoted(store.configuration.schema)).schema_version"))
        {
            version = Int(try row.decode(Int32.self))
        }
        return version
    }

    @Test("ten instances starting at once on an empty schema migrate it once, and all serve")
    func tenInstancesMigrateOnce() async throws {
        let configuration = try PostgresTestServer.configuration()
        let handler = InMemoryLogHandler()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    try await withRunningStore(configuration, handler: handler) { store in
                        // Each one works: the schema is whole for every instance that says it is ready.
                        try await store.register(FunctionRegistration(
                            environment: "default", appID: "migrating-app", functions: [], isCompleteSet: true, now: 0))
                        _ = try await store.functions(environment: "default")
                    }
                }
            }
            try await group.waitForAll()
        }
        let migrations = handler.entries.filter { $0.message.description == "stepwise.postgres migrated" }
        #expect(migrations.count == 1, "\(migrations.count) instances migrated the schema")
        try await withRunningStore(configuration, handler: InMemoryLogHandler()) { store in
            #expect(try await version(store) == PostgresMigrations.latestVersion)
            try await PostgresTestServer.dropSchema(configuration.schema, store: store)
        }
    }

    @Test("a schema newer than this build is refused with an error that says so, and left as it is")
    func newerSchemaIsRefused() async throws {
        let configuration = try PostgresTestServer.configuration()
        let quoted = PostgresIdentifier.quoted(configuration.schema)
        try await withRunningStore(configuration, handler: InMemoryLogHandler()) { store in
            try await store.client.query(PostgresQuery(
                unsafeSQL: "UPDATE \(quoted).schema_version SET version = \(PostgresMigrations.latestVersion + 1)"))
        }
        let store = try PostgresStore(configuration, logger: PostgresTestServer.logger)
        let error = await #expect(throws: PostgresStoreError.self) { try await store.run() }
        guard case .schemaTooNew(let found, let known)? = error else {
            Issue.record("expected schemaTooNew, got \(String(describing: error))")
            return
        }
        #expect(found == PostgresMigrations.latestVersion + 1 && known == PostgresMigrations.latestVersion)
        #expect(error?.description.contains("newer than") == true)
        // Calls on the refused store say it is not running, and waiting for it fails at once.
        await #expect(throws: PostgresStoreError.self) { try await store.waitUntilReady() }
        await #expect(throws: PostgresStoreError.self) { _ = try await store.functions(environment: "default") }
        try await withCleanup(configuration)
    }

    @Test("the printed SQL, applied by a tool of one's own, leaves nothing for the store to migrate")
    func printedSQLIsTheMigration() async throws {
        let configuration = try PostgresTestServer.configuration()
        let sql = PostgresMigrations.sql(schema: configuration.schema)
        #expect(sql.contains("CREATE TABLE \(PostgresIdentifier.quoted(configuration.schema)).runs"))
        // Applied as a migration tool would, statement by statement, through a client of its own.
        let client = PostgresClient(configuration: configuration.clientConfiguration(), backgroundLogger: PostgresTestServer.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            for statement in PostgresMigrations.statements(of: sql, schema: "") {
                try await client.query(PostgresQuery(unsafeSQL: statement))
            }
        }
        let handler = InMemoryLogHandler()
        try await withRunningStore(configuration, handler: handler) { store in
            #expect(try await version(store) == PostgresMigrations.latestVersion)
            try await PostgresTestServer.dropSchema(configuration.schema, store: store)
        }
        #expect(!handler.entries.contains { $0.message.description == "stepwise.postgres migrated" })
    }

    @Test("a schema left at each older version is migrated to this one, its rows kept", arguments: 1..<PostgresMigrations.latestVersion)
    func migratesEveryOlderVersion(older: Int) async throws {
        let configuration = try PostgresTestServer.configuration()
        let quoted = PostgresIdentifier.quoted(configuration.schema)
        let client = PostgresClient(configuration: configuration.clientConfiguration(), backgroundLogger: PostgresTestServer.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            for statement in PostgresMigrations.statements(of: PostgresMigrations.sql(schema: configuration.schema, from: 0, through: older), schema: "") {
                try await client.query(PostgresQuery(unsafeSQL: statement))
            }
            try await client.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(quoted).events (id, environment, name, data, ts, received_at)
                VALUES ('01JDZZZZZZZZZZZZZZZZZZZZZZ', 'default', 'old/event', '{"kept":true}', 1, 1)
                """))
        }
        let handler = InMemoryLogHandler()
        try await withRunningStore(configuration, handler: handler) { store in
            #expect(try await version(store) == PostgresMigrations.latestVersion)
            let id = try #require(EventID("01JDZZZZZZZZZZZZZZZZZZZZZZ"))
            #expect(try await store.event(id: id, environment: "default")?.data == ["kept": true])
            // And it works at the new version: a send, a claim, a checkpoint.
            let stepwise = StepwiseClient(id: "upgraded-app", store: store)
            try stepwise.createFunction(id: "after-upgrade", trigger: .event("new/event")) { _, step in
                _ = try await step.run("one") { 1 }
            }
            try await stepwise.registerFunctions()
            try await stepwise.send(Event(name: "new/event"))
            _ = try await stepwise.worker().drain()
            #expect(try await stepwise.runs(function: "after-upgrade").first?.status == .completed)
            try await PostgresTestServer.dropSchema(configuration.schema, store: store)
        }
        #expect(handler.entries.contains { $0.message.description == "stepwise.postgres migrated" })
    }

    @Test("a call before run() has opened the store says it has not been started (transient)")
    func callBeforeRun() async throws {
        let store = try PostgresStore(try PostgresTestServer.configuration(), logger: PostgresTestServer.logger)
        let error = await #expect(throws: StoreNotStartedError.self) { _ = try await store.functions(environment: "default") }
        #expect(error?.isTransient == true)
        #expect(error?.description.contains("ServiceGroup") == true)
    }

    @Test("a schema name with quotes and spaces is one identifier, not SQL")
    func hostileSchemaName() async throws {
        let configuration = try PostgresTestServer.configuration(schema: "stepwise \"quoted\"; DROP TABLE x; --")
        try await PostgresTestServer.withStore(configuration) { store in
            let client = StepwiseClient(id: "quoted-app", store: store)
            let id = try await client.send(Event(name: "quoted/event", data: ["ok": true]))
            #expect(try await store.event(id: id, environment: "default")?.name == "quoted/event")
            #expect(try await store.environmentExists("default"))
        }
    }

    private func withCleanup(_ configuration: PostgresStore.Configuration) async throws {
        let client = PostgresClient(configuration: configuration.clientConfiguration(), backgroundLogger: PostgresTestServer.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(PostgresIdentifier.quoted(configuration.schema)) CASCADE"))
        }
    }
}

@Suite("PostgreSQL configuration")
struct PostgresConfigurationTests {
    @Test("a URL gives host, port, user, password, database and Stepwise's own settings")
    func parsesURL() throws {
        let configuration = try PostgresStore.Configuration(
            url: "postgres://app%40acme:s%3Acret@db.internal:6432/orders?sslmode=require&schema=jobs&pool_size=7&durability=normal")
        #expect(configuration.endpoint == .tcp(host: "db.internal", port: 6432))
        #expect(configuration.username == "app@acme")
        #expect(configuration.password == "s:cret")
        #expect(configuration.database == "orders")
        #expect(configuration.tls == .require)
        #expect(configuration.schema == "jobs")
        #expect(configuration.poolSize == 7)
        #expect(configuration.durability == .normal)
        #expect(configuration.serverDescription == "db.internal:6432")
    }

    @Test("defaults: port 5432, schema stepwise, TLS preferred, full durability, 20 connections")
    func defaults() throws {
        let configuration = try PostgresStore.Configuration(url: "postgresql://stepwise@localhost")
        #expect(configuration.endpoint == .tcp(host: "localhost", port: 5432))
        #expect(configuration.database == nil)
        #expect(configuration.schema == "stepwise")
        #expect(configuration.tls == .prefer)
        #expect(configuration.durability == .full)
        #expect(configuration.poolSize == 20)
    }

    @Test("a host that is a folder is the server's unix socket, as in libpq")
    func unixSocket() throws {
        let configuration = try PostgresStore.Configuration(url: "postgres://stepwise@/db?host=/run/postgresql&port=5433")
        #expect(configuration.endpoint == .unixSocket(path: "/run/postgresql/.s.PGSQL.5432"))
    }

    @Test(
        "a URL that cannot describe a store is refused with an error naming what is wrong, never its password",
        arguments: [
            ("mysql://u:secret@h/db", "not a postgres:// URL"),
            ("postgres://u:secret@h/db?sslmode=verify-full", "sslmode 'verify-full'"),
            ("postgres://u:secret@h/db?durability=sometimes", "durability 'sometimes'"),
            ("postgres://u:secret@h/db?pool_size=0", "pool_size '0'"),
            ("postgres://u:secret@/db", "names no host"),
        ])
    func refusesBadURL(url: String, expected: String) throws {
        let error = #expect(throws: PostgresStoreError.self) { try PostgresStore.Configuration(url: url) }
        let description = error?.description ?? ""
        #expect(description.contains(expected), "\(description)")
        #expect(!description.contains("secret"), "\(description)")
    }

    @Test("an empty schema or a pool of no connections is refused when the store is made")
    func refusesBadSettings() throws {
        var configuration = try PostgresStore.Configuration(url: "postgres://u@h/db")
        configuration.schema = ""
        #expect(throws: PostgresStoreError.self) { try PostgresStore(configuration, logger: PostgresTestServer.logger) }
        configuration.schema = "ok"
        configuration.poolSize = 0
        #expect(throws: PostgresStoreError.self) { try PostgresStore(configuration, logger: PostgresTestServer.logger) }
    }
}
