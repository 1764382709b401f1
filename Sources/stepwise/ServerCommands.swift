import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Stepwise
import StepwiseDashboard
import StepwiseHTTP
import StepwisePostgres

/// Options both servers take.
struct ServerOptions: ParsableArguments {
    @Option(help: "The database file; created if missing (dev: \(DatabaseFile.defaultPath) by default; serve: this or --postgres).")
    var db: String?

    @Option(help: """
        A PostgreSQL database instead of a file, as postgres://user:password@host:port/database?schema=stepwise; \
        its schema is created if missing (default: $\(StoreLocation.postgresVariable)).
        """)
    var postgres: String?

    @Option(help: "The address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "The port to listen on (0: any free port; the one taken is printed).")
    var port: Int = 8288

    @Option(help: "Seconds a request's head may take, from a new connection or a request's first byte.")
    var headerTimeout: Double = 10

    @Option(help: "Seconds a connection may stay open between requests.")
    var idleTimeout: Double = 60

    @Option(help: "Seconds a request's body may take, from its head to its end.")
    var bodyTimeout: Double = 60

    @Option(help: "Connections served at once; more wait (default: half of ulimit -n, at most 10000).")
    var maxConnections: Int?

    func validate() throws {
        try StoreLocation.refuseTwo([("--db", db), ("--postgres", postgres)])
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, not \(port)") }
        for (name, value) in [("--header-timeout", headerTimeout), ("--idle-timeout", idleTimeout), ("--body-timeout", bodyTimeout)] {
            guard value > 0, value <= 86_400 else { throw ValidationError("\(name) must be more than 0 and at most 86400 seconds, not \(value)") }
        }
        if let maxConnections, maxConnections < 1 {
            throw ValidationError("--max-connections must be at least 1, not \(maxConnections)")
        }
    }

    /// The store --postgres, --db or $STEPWISE_POSTGRES_URL names, in that order; `nil` when none does.
    func location() throws -> StoreLocation? {
        try StoreLocation.chosen(db: db, postgres: postgres, variables: ProcessInfo.processInfo.environment)
    }

    /// The limits the options give.
    var limits: StepwiseServerLimits {
        StepwiseServerLimits(
            headerTimeout: .milliseconds(Int64(headerTimeout * 1000)), idleTimeout: .milliseconds(Int64(idleTimeout * 1000)),
            bodyTimeout: .milliseconds(Int64(bodyTimeout * 1000)), maxConnections: maxConnections ?? StepwiseServerLimits.defaultMaxConnections)
    }
}

struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run a development server: any event key is accepted, the REST API needs no signing key, the dashboard is at /.",
        discussion: "127.0.0.1:8288 is where Inngest's SDKs look for a development server.")

    @OptionGroup var options: ServerOptions

    func run() async throws {
        let configuration = StepwiseHTTPConfiguration.fromEnvironment(ProcessInfo.processInfo.environment, isDevelopment: true)
        try await Server.run(options, store: options.location() ?? .file(DatabaseFile.defaultPath), configuration: configuration, mode: "development", development: true)
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a production server: events need an event key, the REST API and the dashboard (at /) a signing key.",
        discussion: """
            Event keys come from STEPWISE_EVENT_KEYS (comma-separated) or INNGEST_EVENT_KEY, the signing key \
            from STEPWISE_SIGNING_KEY or INNGEST_SIGNING_KEY, branch environments from STEPWISE_ENVIRONMENTS.
            """)

    @OptionGroup var options: ServerOptions

    func run() async throws {
        let configuration = StepwiseHTTPConfiguration.fromEnvironment(ProcessInfo.processInfo.environment, isDevelopment: false)
        var missing = configuration.missingForProduction
        if try EncryptionKeys.cipher(ProcessInfo.processInfo.environment) == nil {
            missing.append("\(EncryptionKeys.variable): the keys that encrypt events' user at rest (id:base64 of 32 bytes, comma-separated, the first encrypts); `stepwise keys generate` makes one")
        }
        guard missing.isEmpty else {
            throw CLIError("stepwise serve will not start without keys:\n  " + missing.joined(separator: "\n  "))
        }
        // No default: production data must not land in the development server's file by accident.
        guard let location = try options.location() else {
            throw ValidationError(
                "stepwise serve needs --db PATH (a database file) or --postgres URL (a PostgreSQL database, also $\(StoreLocation.postgresVariable))")
        }
        try await Server.run(options, store: location, configuration: configuration, mode: "production", development: false)
    }
}

enum Server {
    /// Serves the APIs over `location`'s store until SIGINT or SIGTERM. A PostgreSQL store runs
    /// as a service of the same group, listed first so that it stops last, and the HTTP server
    /// starts once the store is open: the "listening" line means requests will be served, and a
    /// server that cannot be reached ends the command with its error instead of a server that
    /// answers every request with a failure.
    static func run(
        _ options: ServerOptions, store location: StoreLocation, configuration: StepwiseHTTPConfiguration, mode: String, development: Bool
    ) async throws {
        let userEncryption = try EncryptionKeys.userEncryption(ProcessInfo.processInfo.environment, development: development)
        var logger = Logger(label: "stepwise")
        logger.logLevel = .info
        let (store, lifecycle) = try location.open(create: true, logger: logger)
        if let lifecycle { try await StoreStartup.probe(lifecycle.configuration) }
        let database = location.description
        if configuration.isDevelopment, !["127.0.0.1", "localhost", "::1"].contains(options.host) {
            logger.warning(
                "development mode needs no key for the REST API or the dashboard: anyone who reaches \(options.host) can read every payload and cancel runs; use stepwise serve outside this machine")
        }
        if userEncryption.cipher == nil {
            logger.notice("events' user is stored unencrypted (development server without \(EncryptionKeys.variable))")
        }
        // `/metrics` in Prometheus's format: the server's events, the runs its cancels end, and
        // its requests. A registry of the server's own, given to the client rather than
        // bootstrapped globally, so that servers started in one process (the tests) keep apart.
        let metrics = PrometheusEndpoint()
        let client = StepwiseClient(
            id: "stepwise-server", store: store, configuration: .init(userEncryption: userEncryption, metricsFactory: metrics.factory),
            logger: logger)
        let router = StepwiseHTTPAPI(client: client, configuration: configuration).router(metrics: metrics)
        // The dashboard at `/`, beside `/e` and `/v1`: what a browser opening the dev server sees.
        StepwiseDashboard(client: client, configuration: configuration).addRoutes(to: router)
        let limits = options.limits
        let app = Application(
            router: router,
            server: limits.server,
            configuration: limits.applicationConfiguration(address: .hostname(options.host, port: options.port), serverName: "stepwise"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? options.port
                // Unbuffered, so that a script (or a test) reading the port through a pipe sees it now.
                let line = "stepwise \(mode) server listening on http://\(options.host):\(port) (database: \(database))\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            },
            logger: logger)
        var services: [any Service] = []
        if let lifecycle {
            services = [lifecycle, AfterStoreOpens(store: lifecycle, service: app)]
        } else {
            services = [app]
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// A service that starts once a PostgreSQL store serves requests, and fails with the store's
/// error when it never will (or not within `StoreStartup.openingLimit`), which ends the group.
struct AfterStoreOpens: Service {
    let store: PostgresStore
    let service: any Service

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await StoreStartup.waitUntilOpen(store, server: store.configuration.serverDescription)
            }
        } catch is CancellationError where Task.isShuttingDownGracefully {
            return  // Ctrl-C while the store was opening: nothing to serve, nothing failed.
        }
        try await service.run()
    }
}
