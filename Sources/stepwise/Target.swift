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
}

/// The database file the commands use when given no other.
enum DatabaseFile {
    static let defaultPath = ".stepwise/dev.db"

    /// Opens a database file; only a server creates one, so that a mistyped path in a
    /// command that reads is an error instead of a new, empty database.
    static func openStore(_ path: String, create: Bool) throws -> SQLiteStore {
        let url = URL(fileURLWithPath: path)
        if create {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } else if !FileManager.default.fileExists(atPath: path) {
            throw CLIError("no database at \(path): start `stepwise dev`, or pass --db PATH or --url URL")
        }
        return try SQLiteStore(.init(path: path))
    }
}

/// A database file, read and changed in this process.
struct LocalTarget: Target {
    let client: StepwiseClient

    init(path: String, environment: String) throws {
        let store = try DatabaseFile.openStore(path, create: false)
        client = StepwiseClient(id: "stepwise-cli", store: store, configuration: .init(environment: environment))
    }

    func send(_ events: [Event]) async throws -> [EventID] {
        try await client.send(events)
    }

    func event(_ id: String) async throws -> JSON {
        guard let event = try await client.event(id: try Self.id(id, "event")) else { throw CLIError("no event \(id)") }
        return ["data": RESTRepresentation.event(event)]
    }

    func events(name: String?, since: String?, until: String?, limit: Int, cursor: String?) async throws -> JSON {
        func time(_ text: String?, _ option: String) throws -> Int64? {
            guard let text else { return nil }
            guard let time = RESTRepresentation.parseTime(text) else {
                throw CLIError("--\(option): milliseconds since the Unix epoch or an RFC 3339 time, not '\(text)'")
            }
            return time
        }
        var position: EventCursor?
        if let cursor {
            guard let parsed = EventCursor(rawValue: cursor) else { throw CLIError("--cursor: not a cursor a listing gave") }
            position = parsed
        }
        let page = try await client.events(
            named: name, since: try time(since, "since"), until: try time(until, "until"), limit: limit, cursor: position)
        return ["data": .array(page.events.map(RESTRepresentation.event)), "cursor": page.nextCursor.map { .string($0.rawValue) } ?? .null]
    }

    func runsOfEvent(_ id: String) async throws -> JSON {
        let runs = try await client.runs(event: try Self.id(id, "event"), limit: 1000)
        return ["data": .array(runs.map { RESTRepresentation.run($0) })]
    }

    func runs(function: String?, status: String?, limit: Int, cursor: String?) async throws -> JSON {
        var runStatus: RunStatus?
        if let status {
            guard let parsed = RunStatus(rawValue: status) else {
                throw CLIError("--status: one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")), not '\(status)'")
            }
            runStatus = parsed
        }
        let before = try cursor.map { try Self.id($0, "cursor") }
        let page = try await client.runPage(function: function, status: runStatus, limit: limit, before: before)
        return ["data": .array(page.runs.map { RESTRepresentation.run($0) }), "cursor": page.nextCursor.map { .string($0.description) } ?? .null]
    }

    func run(_ id: String) async throws -> JSON {
        let runID = try Self.id(id, "run")
        guard let run = try await client.run(id: runID) else { throw CLIError("no run \(id)") }
        return ["data": RESTRepresentation.run(run, steps: try await client.steps(ofRun: runID))]
    }

    func cancel(_ id: String) async throws -> JSON {
        let runID = try Self.id(id, "run")
        guard try await client.run(id: runID) != nil else { throw CLIError("no run \(id)") }
        let cancelled = try await client.cancelRun(runID)
        guard let run = try await client.run(id: runID) else { throw CLIError("no run \(id)") }
        guard cancelled else { throw CLIError("run \(id) had already ended: \(run.status.rawValue)") }
        return ["data": RESTRepresentation.run(run)]
    }

    func rerun(_ id: String) async throws -> JSON {
        do {
            guard let run = try await client.rerun(try Self.id(id, "run")) else { throw CLIError("no run \(id)") }
            return ["data": RESTRepresentation.run(run)]
        } catch let error as RerunError {
            throw CLIError(error.description)
        }
    }

    private static func id(_ text: String, _ what: String) throws -> ULID {
        guard let id = ULID(text) else { throw CLIError("'\(text)' is not a\(what == "event" ? "n" : "") \(what) id (a ULID)") }
        return id
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
            throw CLIError("\(baseURL) answered HTTP \(response.status.code): \(json["error"]?.stringValue ?? json.serialized)")
        }
        return json
    }

    private static func escaped(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? segment
    }
}
