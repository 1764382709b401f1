import Foundation
import Logging
import PostgresNIO
import Stepwise
import StepwisePostgres

/// The PostgreSQL server a benchmark runs against: the one `--postgres-url` names, or a
/// throwaway one the bench starts in a temporary folder and stops when it is done.
final class BenchPostgres: Sendable {
    let url: String
    private let server: ThrowawayPostgres?

    init(url: String?) throws {
        if let url {
            self.url = url
            server = nil
        } else {
            let server = try ThrowawayPostgres()
            self.server = server
            self.url = server.url
        }
    }

    func stop() {
        server?.stop()
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "stepwise.bench.postgres")
        logger.logLevel = .critical
        return logger
    }

    /// A store's configuration in a fresh schema of its own.
    func configuration(durability: DurabilityOption, poolSize: Int = 20) throws -> PostgresStore.Configuration {
        var configuration = try PostgresStore.Configuration(url: url)
        configuration.schema = "bench_\(UInt64.random(in: 0...UInt64.max) % 1_000_000_000_000)"
        configuration.poolSize = poolSize
        configuration.durability = durability == .full ? .full : .normal
        return configuration
    }

    /// Runs `body` with a started store in a fresh schema, dropped afterwards.
    func withStore<Result: Sendable>(
        durability: DurabilityOption, poolSize: Int = 20, _ body: @Sendable (PostgresStore) async throws -> Result
    ) async throws -> Result {
        let configuration = try configuration(durability: durability, poolSize: poolSize)
        let store = try PostgresStore(configuration, logger: Self.quietLogger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            try await store.waitUntilReady()
            let result = try await body(store)
            try await withClient(connections: 1) { client in
                try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(configuration.schema)\" CASCADE"))
            }
            return result
        }
    }

    /// Runs `body` with a plain postgres-nio client of at most `connections` connections, at
    /// the store's durability: the raw baseline's.
    @discardableResult
    func withClient<Result: Sendable>(
        connections: Int, durability: DurabilityOption = .full, _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        var store = try PostgresStore.Configuration(url: url)
        store.poolSize = connections
        var configuration: PostgresClient.Configuration
        switch store.endpoint {
        case .tcp(let host, let port):
            configuration = .init(host: host, port: port, username: store.username, password: store.password, database: store.database, tls: .disable)
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: store.username, password: store.password, database: store.database)
        }
        configuration.options.maximumConnections = connections
        if durability == .normal { configuration.options.additionalStartupParameters = [("synchronous_commit", "off")] }
        let client = PostgresClient(configuration: configuration, backgroundLogger: Self.quietLogger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// Raw one-row INSERT commits per second over `connections` connections, each committing
    /// its own rows one at a time (autocommit: one round trip and one WAL flush each): what a
    /// plain PostgreSQL app pays per durable row.
    func rawCommitRate(rows: Int, connections: Int, durability: DurabilityOption) async throws -> Double {
        try await withClient(connections: connections, durability: durability) { client in
            let table = "bench_raw_\(UInt64.random(in: 0...UInt64.max) % 1_000_000_000)"
            try await client.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (id text PRIMARY KEY, name text NOT NULL, data text NOT NULL, ts bigint NOT NULL)"))
            let data = JSON.object(["index": 1, "label": "line 1"]).serialized
            let generator = ULIDGenerator()
            let seconds = try await measure {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<connections {
                        group.addTask {
                            for _ in 0..<(rows / connections) {
                                let id = generator.next(milliseconds: 0).description
                                try await client.query("INSERT INTO \(unescaped: table) (id, name, data, ts) VALUES (\(id), 'bench/step', \(data), 0)")
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            try await client.query(PostgresQuery(unsafeSQL: "DROP TABLE \(table)"))
            return Double((rows / connections) * connections) / seconds
        }
    }

    /// Raw inserts of the ingest rows per second: `perTransaction` rows a transaction (one
    /// multi-row INSERT, so one round trip and one flush), from `connections` senders.
    func rawInsertRate(events: Int, perTransaction: Int, connections: Int, data: String, durability: DurabilityOption) async throws -> Double {
        try await withClient(connections: connections, durability: durability) { client in
            let table = "bench_raw_\(UInt64.random(in: 0...UInt64.max) % 1_000_000_000)"
            try await client.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (id text PRIMARY KEY, name text NOT NULL, data text NOT NULL, ts bigint NOT NULL)"))
            let generator = ULIDGenerator()
            let perSender = events / connections
            let seconds = try await measure {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<connections {
                        group.addTask {
                            var sent = 0
                            while sent < perSender {
                                let count = min(perTransaction, perSender - sent)
                                let ids = (0..<count).map { _ in generator.next(milliseconds: 0).description }
                                try await client.query(
                                    """
                                    INSERT INTO \(unescaped: table) (id, name, data, ts)
                                    SELECT id, 'storefront/cart.checkout.completed', \(data), 0 FROM unnest(\(ids)::text[]) AS id
                                    """)
                                sent += count
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            try await client.query(PostgresQuery(unsafeSQL: "DROP TABLE \(table)"))
            return Double(perSender * connections) / seconds
        }
    }

    /// The latency of raw one-row INSERT commits on one connection, in milliseconds.
    func rawCommitLatencies(count: Int, durability: DurabilityOption) async throws -> [Double] {
        try await withClient(connections: 1, durability: durability) { client in
            let table = "bench_raw_\(UInt64.random(in: 0...UInt64.max) % 1_000_000_000)"
            try await client.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (id text PRIMARY KEY, name text NOT NULL, data text NOT NULL, ts bigint NOT NULL)"))
            let data = JSON.object(["index": 1, "label": "line 1"]).serialized
            let generator = ULIDGenerator()
            var latencies: [Double] = []
            for _ in 0..<count {
                let id = generator.next(milliseconds: 0).description
                latencies.append(try await measure {
                    try await client.query("INSERT INTO \(unescaped: table) (id, name, data, ts) VALUES (\(id), 'bench/step', \(data), 0)")
                } * 1000)
            }
            try await client.query(PostgresQuery(unsafeSQL: "DROP TABLE \(table)"))
            return latencies
        }
    }
}

/// A PostgreSQL 15 server of the bench's own, in a temporary folder on a free port, with
/// trust authentication on loopback only; stopped by its pid.
final class ThrowawayPostgres: Sendable {
    let url: String
    private let dataDirectory: String
    private let pid: Int32

    init() throws {
        let binaries = "/usr/lib/postgresql/15/bin"
        guard FileManager.default.isExecutableFile(atPath: "\(binaries)/initdb") else {
            throw BenchError("no PostgreSQL 15 in \(binaries): install postgresql-15, or name a server with --postgres-url")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stepwise-bench-pg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let port = 55_000 + Int.random(in: 0..<5000)
        // PostgreSQL refuses to run as root: as root, the server runs as `postgres`.
        let isRoot = getuid() == 0
        func run(_ arguments: [String], asServer: Bool = true) throws {
            let command = isRoot && asServer ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + arguments : arguments
            let status = try spawnAndWait(command)
            guard status == 0 else { throw BenchError("\(arguments.joined(separator: " ")) failed with status \(status)") }
        }
        if isRoot {
            try run(["/usr/bin/chown", "postgres:postgres", folder], asServer: false)
        }
        try run(["\(binaries)/initdb", "-D", folder, "-U", "stepwise", "--auth=trust", "-E", "UTF8", "--no-sync"])
        try run([
            "\(binaries)/pg_ctl", "-D", folder, "-l", "\(folder)/server.log", "-w", "-t", "30",
            "-o", "-c listen_addresses=127.0.0.1 -p \(port) -k \(folder) -c max_connections=200", "start",
        ])
        let pidText = try String(contentsOfFile: "\(folder)/postmaster.pid", encoding: .utf8)
        guard let pid = pidText.split(separator: "\n").first.flatMap({ Int32($0) }) else {
            throw BenchError("the throwaway server wrote no pid")
        }
        self.pid = pid
        dataDirectory = folder
        url = "postgres://stepwise@127.0.0.1:\(port)/postgres?sslmode=disable"
    }

    /// Fast shutdown (SIGINT), waited for, then the folder removed.
    func stop() {
        kill(pid, SIGINT)
        while kill(pid, 0) == 0 { usleep(50_000) }
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }
}

/// Runs a program to its end, its output discarded, and returns its exit status: with
/// posix_spawn and waitpid, because Foundation's `Process.waitUntilExit` on Linux can miss
/// the exit of a child whose own child lives on (`pg_ctl start` leaves the server running).
func spawnAndWait(_ arguments: [String]) throws -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var pid: pid_t = 0
    let argv = arguments.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
    guard spawned == 0 else { throw BenchError("cannot start \(arguments[0]): error \(spawned)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    // WEXITSTATUS, which Swift does not import as a macro.
    return (status >> 8) & 0xff
}
