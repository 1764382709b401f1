import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Stepwise
import StepwiseHTTP
import StepwiseHTTPClient

/// An error the tool reports in words, exiting with status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Where a command reads and changes events and runs: a database file, or a server.
struct TargetOptions: ParsableArguments {
    @Option(help: "The database file to work on (default: \(DatabaseFile.defaultPath)).")
    var db: String?

    @Option(help: "A running server's base URL (such as http://127.0.0.1:8288), instead of a database file.")
    var url: String?

    @Option(name: .customLong("env"), help: "The environment (x-inngest-env); the default one if not given.")
    var environment: String?

    @Option(help: "The event key, with --url (default: $STEPWISE_EVENT_KEY, then $INNGEST_EVENT_KEY).")
    var eventKey: String?

    @Option(help: "The signing key for the REST API, with --url (default: $STEPWISE_SIGNING_KEY, then $INNGEST_SIGNING_KEY).")
    var signingKey: String?

    func validate() throws {
        if db != nil, url != nil { throw ValidationError("give --db or --url, not both") }
    }

    func target() throws -> any Target {
        let variables = ProcessInfo.processInfo.environment
        if let url {
            return try RemoteTarget(
                baseURL: url, environment: environment,
                eventKey: eventKey ?? variables["STEPWISE_EVENT_KEY"] ?? variables["INNGEST_EVENT_KEY"],
                signingKey: signingKey ?? variables["STEPWISE_SIGNING_KEY"] ?? variables["INNGEST_SIGNING_KEY"])
        }
        return try LocalTarget(path: db ?? DatabaseFile.defaultPath, environment: environment ?? "default")
    }
}

/// What the commands need of a database file or a server. Answers are the REST API's JSON
/// (`{"data": …}`, with `"cursor"` for listings), whichever the target.
protocol Target: Sendable {
    func send(_ events: [Event]) async throws -> [EventID]
    func event(_ id: String) async throws -> JSON
    func events(name: String?, since: String?, until: String?, limit: Int, cursor: String?) async throws -> JSON
    func runsOfEvent(_ id: String) async throws -> JSON
    func runs(function: String?, status: String?, limit: Int, cursor: String?) async throws -> JSON
    func run(_ id: String) async throws -> JSON
    func cancel(_ id: String) async throws -> JSON
    func rerun(_ id: String) async throws -> JSON
    func functions() async throws -> JSON
}

/// The database file the commands use when given no other.
enum DatabaseFile {
    static let defaultPath = ".stepwise/dev.db"

    /// Opens a database file; only a server creates one, so that a mistyped path in a
    /// command that reads is an error instead of a new, empty database.
    static func openStore(_ path: String, create: Bool) throws -> SQLiteStore {
        if !create, !FileManager.default.fileExists(atPath: path) {
            throw CLIError("no database at \(path): start `stepwise dev`, or pass --db PATH or --url URL")
        }
        return try SQLiteStore(.init(path: path))
    }
}

/// A database file, read and changed in this process, through the same operations the REST
/// API runs, so that both answer alike.
struct LocalTarget: Target {
    let client: StepwiseClient
    let queries: RecordQueries

    init(path: String, environment: String) throws {
        let store = try DatabaseFile.openStore(path, create: false)
        client = StepwiseClient(id: "stepwise-cli", store: store, configuration: .init(environment: environment))
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

    func runs(function: String?, status: String?, limit: Int, cursor: String?) async throws -> JSON {
        try await answer { try await queries.runs(function: function, status: status, limit: String(limit), cursor: cursor) }
    }

    func run(_ id: String) async throws -> JSON { try await answer { try await queries.run(id) } }

    func cancel(_ id: String) async throws -> JSON { try await answer { try await queries.cancel(id) } }

    func rerun(_ id: String) async throws -> JSON { try await answer { try await queries.rerun(id) } }

    func functions() async throws -> JSON { try await answer { try await queries.functions() } }

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

    func runs(function: String?, status: String?, limit: Int, cursor: String?) async throws -> JSON {
        try await request(.GET, "/v1/runs", query: ["function": function, "status": status, "limit": "\(limit)", "cursor": cursor])
    }

    func run(_ id: String) async throws -> JSON { try await request(.GET, "/v1/runs/\(Self.escaped(id))") }

    func cancel(_ id: String) async throws -> JSON { try await request(.POST, "/v1/runs/\(Self.escaped(id))/cancel") }

    func rerun(_ id: String) async throws -> JSON { try await request(.POST, "/v1/runs/\(Self.escaped(id))/rerun") }

    func functions() async throws -> JSON { try await request(.GET, "/v1/functions") }

    private func request(_ method: HTTPMethod, _ path: String, query: KeyValuePairs<String, String?> = [:]) async throws -> JSON {
        var components = URLComponents()
        components.queryItems = query.compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } }
        let queryText = components.percentEncodedQuery.map { $0.isEmpty ? "" : "?\($0)" } ?? ""
        var request = HTTPClientRequest(url: baseURL + path + queryText)
        request.method = method
        if let signingKey { request.headers.add(name: "Authorization", value: "Bearer \(signingKey)") }
        if let environment { request.headers.add(name: "x-inngest-env", value: environment) }
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
