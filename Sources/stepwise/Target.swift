import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Stepwise
import StepwiseHTTP
import StepwiseHTTPClient
import StepwisePostgres

/// An error the tool reports in words, exiting with status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Where a command reads and changes events and runs: a database file, a PostgreSQL
/// database, or a server.
struct TargetOptions: ParsableArguments {
    @Option(help: "The database file to work on (default: \(DatabaseFile.defaultPath), or $\(StoreLocation.postgresVariable) when set).")
    var db: String?

    @Option(help: "A PostgreSQL database to work on, as postgres://user:password@host:port/database?schema=stepwise (default: $\(StoreLocation.postgresVariable)).")
    var postgres: String?

    @Option(help: "A running server's base URL (such as http://127.0.0.1:8288), instead of a database.")
    var url: String?

    @Option(name: .customLong("env"), help: "The environment (x-inngest-env); the default one if not given.")
    var environment: String?

    @Option(help: "The event key, with --url (default: $STEPWISE_EVENT_KEY, then $INNGEST_EVENT_KEY).")
    var eventKey: String?

    @Option(help: "The signing key for the REST API, with --url (default: $STEPWISE_SIGNING_KEY, then $INNGEST_SIGNING_KEY).")
    var signingKey: String?

    func validate() throws {
        try StoreLocation.refuseTwo([("--db", db), ("--postgres", postgres), ("--url", url)])
    }

    /// Runs `body` on the target the options name: a server (--url), or a store opened in this
    /// process for as long as `body` runs (a PostgreSQL store's pool is started first and
    /// stopped after, so that the command neither hangs nor leaves connections behind).
    func withTarget<Result: Sendable>(_ body: (any Target) async throws -> Result) async throws -> Result {
        let variables = ProcessInfo.processInfo.environment
        if let url {
            return try await body(
                RemoteTarget(
                    baseURL: url, environment: environment,
                    eventKey: eventKey ?? variables["STEPWISE_EVENT_KEY"] ?? variables["INNGEST_EVENT_KEY"],
                    signingKey: signingKey ?? variables["STEPWISE_SIGNING_KEY"] ?? variables["INNGEST_SIGNING_KEY"]))
        }
        let location = try StoreLocation.chosen(db: db, postgres: postgres, variables: variables) ?? .file(DatabaseFile.defaultPath)
        let environment = self.environment ?? "default"
        return try await location.withStore(create: false, logger: StoreLocation.commandLogger) { store in
            try await body(LocalTarget(
                store: store, environment: environment,
                userEncryption: try EncryptionKeys.userEncryption(variables, development: false)))
        }
    }
}

/// Where the events and runs are kept, when a command or server opens them itself: a SQLite
/// file, or a PostgreSQL database that every host of a deployment shares.
enum StoreLocation: Sendable {
    case file(String)
    case postgres(PostgresStore.Configuration)

    /// The environment variable naming a PostgreSQL database when no option names a store: set
    /// once in a deployment's environment, it moves every command onto the shared database.
    static let postgresVariable = "STEPWISE_POSTGRES_URL"

    /// The store the options name: --postgres, then --db, then $STEPWISE_POSTGRES_URL; `nil`
    /// when none does, for the caller's default (a file for `dev` and the commands, none for
    /// `serve`). An option given on the command line always beats the environment, so that
    /// `--db` still reaches a file in a shell where the variable is set.
    ///
    /// - Throws: ``CLIError`` naming the option or variable whose URL names no server.
    static func chosen(db: String?, postgres: String?, variables: [String: String]) throws -> StoreLocation? {
        if let postgres { return .postgres(try configuration(postgres, from: "--postgres")) }
        if let db { return .file(db) }
        if let url = variables[postgresVariable], !url.isEmpty {
            return .postgres(try configuration(url, from: "$\(postgresVariable)"))
        }
        return nil
    }

    private static func configuration(_ url: String, from source: String) throws -> PostgresStore.Configuration {
        do {
            return try PostgresStore.Configuration(url: url)
        } catch {
            throw CLIError("\(source): \(error)")
        }
    }

    /// Refuses two of the options that each name where the data is.
    static func refuseTwo(_ options: [(name: String, value: String?)]) throws {
        let given = options.filter { $0.value != nil }.map(\.name)
        if given.count > 1 { throw ValidationError("give \(given.joined(separator: " or ")), not both") }
    }

    /// A one-shot command's logger: its answer is on stdout and its failure in the error it
    /// throws, so only what is worse than that failure is logged.
    static var commandLogger: Logger {
        var logger = Logger(label: "stepwise")
        logger.logLevel = .critical
        return logger
    }

    /// The store in words, for the server's first line: never a password.
    var description: String {
        switch self {
        case .file(let path): path
        case .postgres(let configuration):
            "PostgreSQL \(configuration.serverDescription)\(configuration.database.map { "/\($0)" } ?? ""), schema \(configuration.schema)"
        }
    }

    /// Opens the store: a file's at once (only a server creates one), a PostgreSQL store
    /// unstarted, with the service that must run it.
    func open(create: Bool, logger: Logger) throws -> (store: any Store, lifecycle: PostgresStore?) {
        switch self {
        case .file(let path):
            return (try DatabaseFile.openStore(path, create: create), nil)
        case .postgres(let configuration):
            let store = try PostgresStore(configuration, logger: logger)
            return (store, store)
        }
    }

    /// Runs `body` with the store open. A PostgreSQL store's `run()` runs beside `body` from
    /// before its first call until after its last, and is cancelled then; a server that cannot
    /// be reached fails the command with `PostgresStoreError.unreachable`, naming it.
    func withStore<Result: Sendable>(
        create: Bool, logger: Logger, _ body: (any Store) async throws -> Result
    ) async throws -> Result {
        let (store, lifecycle) = try open(create: create, logger: logger)
        guard let lifecycle else { return try await body(store) }
        try await StoreStartup.probe(lifecycle.configuration)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await lifecycle.run() }
            // Throws what stopped the store (an unreachable server) when it never opens, or
            // that it took too long; the group then cancels and awaits the pool's task.
            try await StoreStartup.waitUntilOpen(lifecycle, server: lifecycle.configuration.serverDescription)
            let result = try await body(store)
            group.cancelAll()
            try await group.waitForAll()
            return result
        }
    }
}

/// What the commands need of a database file or a server. Answers are the REST API's JSON
/// (`{"data": …}`, with `"cursor"` for listings), whichever the target.
protocol Target: Sendable {
    func send(_ events: [Event]) async throws -> [EventID]
    func event(_ id: String) async throws -> JSON
    func events(name: String?, since: String?, until: String?, limit: Int, cursor: String?) async throws -> JSON
    func runsOfEvent(_ id: String) async throws -> JSON
    func admissions(ofEvent id: String) async throws -> JSON
    func runs(function: String?, status: String?, limit: Int, cursor: String?) async throws -> JSON
    func run(_ id: String) async throws -> JSON
    func cancel(_ id: String) async throws -> JSON
    func rerun(_ id: String) async throws -> JSON
    func functions() async throws -> JSON
    func invoke(function: String, app: String?, data: JSON) async throws -> JSON
}

/// The database file the commands use when given no other.
enum DatabaseFile {
    static let defaultPath = ".stepwise/dev.db"

    /// Opens a database file; only a server creates one, so that a mistyped path in a
    /// command that reads is an error instead of a new, empty database.
    static func openStore(_ path: String, create: Bool) throws -> SQLiteStore {
        if !create, !FileManager.default.fileExists(atPath: path) {
            throw CLIError("no database at \(path): start `stepwise dev`, or pass --db PATH, --postgres URL or --url URL")
        }
        return try SQLiteStore(.init(path: path))
    }
}

/// A store (a database file, a PostgreSQL database), read and changed in this process,
/// through the same operations the REST API runs, so that both answer alike.
struct LocalTarget: Target {
    let client: StepwiseClient
    let queries: RecordQueries

    init(store: any Store, environment: String, userEncryption: UserEncryption) {
        client = StepwiseClient(
            id: "stepwise-cli", store: store, configuration: .init(environment: environment, userEncryption: userEncryption))
        queries = RecordQueries(client: client)
    }

    func send(_ events: [Event]) async throws -> [EventID] {
        try await client.send(events)
    }

    func event(_ id: String) async throws -> JSON { try await answer { try await queries.event(id) } }

    func events(name: String?, since: String?, until: String?, limit: Int, cursor: String?) async throws -> JSON {
        try await answer { try await queries.events(name: name, since: since, until: until, limit: String(limit), cursor: cursor) }
    }

    func runsOfEvent(_ id: String) async throws -> JSON { try await answer { try await queries.runs(ofEvent: id) } }
    func admissions(ofEvent id: String) async throws -> JSON { try await answer { try await queries.admissions(ofEvent: id) } }

    func runs(function: String?, status: String?, limit: Int, cursor: String?) async throws -> JSON {
        try await answer { try await queries.runs(function: function, status: status, limit: String(limit), cursor: cursor) }
    }

    func run(_ id: String) async throws -> JSON { try await answer { try await queries.run(id) } }

    func cancel(_ id: String) async throws -> JSON { try await answer { try await queries.cancel(id) } }

    func rerun(_ id: String) async throws -> JSON { try await answer { try await queries.rerun(id) } }

    func functions() async throws -> JSON { try await answer { try await queries.functions() } }

    func invoke(function: String, app: String?, data: JSON) async throws -> JSON {
        try await answer { try await queries.invoke(function: function, app: app, data: data) }
    }

    /// The operation's answer; its refusal in the same words the REST API would give.
    private func answer(_ operation: () async throws -> JSON) async throws -> JSON {
        do {
            return try await operation()
        } catch let error as APIError {
            throw CLIError(error.message)
        }
    }
}

/// A server, through its Event API and REST API.
struct RemoteTarget: Target {
    let baseURL: String
    let environment: String?
    let signingKey: String?
    let sender: HTTPEventSender

    init(baseURL: String, environment: String?, eventKey: String?, signingKey: String?) throws {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.environment = environment
        self.signingKey = signingKey
        self.sender = try HTTPEventSender(configuration: .init(baseURL: base, eventKey: eventKey, environment: environment, maxAttempts: 3))
    }

    func send(_ events: [Event]) async throws -> [EventID] {
        try await sender.send(events)
    }

    func event(_ id: String) async throws -> JSON { try await request(.GET, "/v1/events/\(Self.escaped(id))") }

    func events(name: String?, since: String?, until: String?, limit: Int, cursor: String?) async throws -> JSON {
        try await request(.GET, "/v1/events", query: ["name": name, "since": since, "until": until, "limit": "\(limit)", "cursor": cursor])
    }

    func runsOfEvent(_ id: String) async throws -> JSON { try await request(.GET, "/v1/events/\(Self.escaped(id))/runs") }
    func admissions(ofEvent id: String) async throws -> JSON { try await request(.GET, "/v1/events/\(Self.escaped(id))/admissions") }

    func runs(function: String?, status: String?, limit: Int, cursor: String?) async throws -> JSON {
        try await request(.GET, "/v1/runs", query: ["function": function, "status": status, "limit": "\(limit)", "cursor": cursor])
    }

    func run(_ id: String) async throws -> JSON { try await request(.GET, "/v1/runs/\(Self.escaped(id))") }

    func cancel(_ id: String) async throws -> JSON { try await request(.POST, "/v1/runs/\(Self.escaped(id))/cancel") }

    func rerun(_ id: String) async throws -> JSON { try await request(.POST, "/v1/runs/\(Self.escaped(id))/rerun") }

    func functions() async throws -> JSON { try await request(.GET, "/v1/functions") }

    func invoke(function: String, app: String?, data: JSON) async throws -> JSON {
        var body: JSON.Object = ["data": data]
        if let app { body["app_id"] = .string(app) }
        return try await request(.POST, "/v1/functions/\(Self.escaped(function))/invoke", body: .object(body))
    }

    private func request(
        _ method: HTTPMethod, _ path: String, query: KeyValuePairs<String, String?> = [:], body: JSON? = nil
    ) async throws -> JSON {
        var components = URLComponents()
        components.queryItems = query.compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } }
        let queryText = components.percentEncodedQuery.map { $0.isEmpty ? "" : "?\($0)" } ?? ""
        var request = HTTPClientRequest(url: baseURL + path + queryText)
        request.method = method
        if let signingKey { request.headers.add(name: "Authorization", value: "Bearer \(signingKey)") }
        if let environment { request.headers.add(name: "x-inngest-env", value: environment) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.serializedUTF8))
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        } catch {
            throw CLIError("could not reach \(baseURL): \(error)")
        }
        let body = try await response.body.collect(upTo: 64 << 20)
        guard let json = try? JSON(parsing: body.readableBytesView) else {
            throw CLIError("\(baseURL) answered HTTP \(response.status.code) with a body that is not JSON")
        }
        guard response.status.code < 300 else {
            throw CLIError("\(baseURL) answered HTTP \(response.status.code): \(Output.printable(json["error"]?.stringValue ?? json.serialized))")
        }
        return json
    }

    private static func escaped(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? segment
    }
}
