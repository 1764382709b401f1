import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Stepwise
@testable import StepwisePostgres
import Synchronization
import Testing

/// The PostgreSQL server the `stepwise --postgres` tests use: `STEPWISE_TEST_POSTGRES_URL`, as
/// for StepwisePostgresTests (`.ci/run`, or `Scripts/with-postgres.sh swift test`, starts one).
/// Without it the tests are skipped on a developer's machine and fail under `CI=true`, so that
/// CI never goes green by skipping.
enum PostgresCLIServer {
    static let url = ProcessInfo.processInfo.environment["STEPWISE_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

    static var enabled: Bool { url != nil || isCI }

    /// Runs `body` with the server's URL naming a schema of the test's own (`schema=` added
    /// to the query), and drops the schema afterwards, whether `body` passed or not.
    static func withSchema(_ body: (String) async throws -> Void) async throws {
        guard let url else {
            throw TestFailure("CI=true but STEPWISE_TEST_POSTGRES_URL is not set: .ci/run must start PostgreSQL before the tests")
        }
        let schema = "stepwise_cli_\(UInt64.random(in: 0...UInt64.max) % 1_000_000_000_000)"
        let schemaURL = url + (url.contains("?") ? "&" : "?") + "schema=\(schema)"
        let failure: (any Error)?
        do {
            try await body(schemaURL)
            failure = nil
        } catch {
            failure = error
        }
        try await withStore(url: schemaURL) { store in
            _ = try await store.client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(schema)\" CASCADE"))
        }
        if let failure { throw failure }
    }

    /// Runs `body` with a started store on `url`, stopped afterwards.
    static func withStore<Result: Sendable>(url: String, _ body: (PostgresStore) async throws -> Result) async throws -> Result {
        let store = try PostgresStore(try PostgresStore.Configuration(url: url), logger: quietLogger())
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            try await store.waitUntilReady()
            let result = try await body(store)
            group.cancelAll()
            return result
        }
    }
}

/// The variable `stepwise` reads for a PostgreSQL database when no option names a store.
let postgresURLVariable = "STEPWISE_POSTGRES_URL"

/// Whether a watchdog ended a process, and whether it may still (it must not once the process
/// has been reaped: its pid could be another process's by then).
final class Watchdog: Sendable {
    let exited = Atomic(false)
    let fired = Atomic(false)
}

/// Runs a command to its end, or kills it after `timeout`: a command that hangs on an
/// unreachable server fails the test instead of hanging it. Clears the variables that would
/// choose another store or key than the arguments name.
func runCommand(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], within timeout: Duration) throws -> (Finished, timedOut: Bool) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    var variables = ProcessInfo.processInfo.environment
    for name in ["STEPWISE_EVENT_KEYS", "INNGEST_EVENT_KEY", "STEPWISE_SIGNING_KEY", "INNGEST_SIGNING_KEY", "STEPWISE_EVENT_KEY", postgresURLVariable] {
        variables[name] = nil
    }
    process.environment = variables.merging(environment) { $1 }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let watchdog = Watchdog()
    let pid = process.processIdentifier
    let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
    DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
        if !watchdog.exited.load(ordering: .sequentiallyConsistent) {
            watchdog.fired.store(true, ordering: .sequentiallyConsistent)
            kill(pid, SIGKILL)
        }
    }
    // Read before waiting: a full pipe would block the child forever.
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    watchdog.exited.store(true, ordering: .sequentiallyConsistent)
    let finished = Finished(
        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    return (finished, watchdog.fired.load(ordering: .sequentiallyConsistent))
}

@Suite("The stepwise tool on PostgreSQL, as separate processes", .enabled(if: PostgresCLIServer.enabled))
struct PostgresCLITests {
    /// Runs the tool, failing the test when it takes more than a minute.
    func stepwise(_ arguments: [String], environment: [String: String] = [:]) throws -> Finished {
        let (finished, timedOut) = try runCommand(stepwiseTool, arguments, environment: environment, within: .seconds(60))
        #expect(!timedOut, "stepwise \(arguments.joined(separator: " ")) did not end within a minute")
        return finished
    }

    @Test("send, events list and show, runs list and show work on a PostgreSQL database, by --postgres or STEPWISE_POSTGRES_URL")
    func sendAndList() async throws {
        try await PostgresCLIServer.withSchema { url in
            let sent = try stepwise(["send", "app/user.signup", "--data", #"{"userId": "u1"}"#, "--id", "signup-u1", "--postgres", url])
            #expect(sent.status == 0, "\(sent.stderr)")
            let id = sent.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(EventID(id) != nil, "\(sent.stdout)")
            let again = try stepwise(["send", "app/user.signup", "--data", #"{"userId": "u1"}"#, "--id", "signup-u1", "--postgres", url])
            #expect(again.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == id, "a duplicate prints the first event's id")

            let table = try stepwise(["events", "list", "--postgres", url])
            #expect(table.status == 0, "\(table.stderr)")
            #expect(table.stdout.contains(id) && table.stdout.contains("app/user.signup") && table.stdout.contains("signup-u1"), "\(table.stdout)")
            let json = try stepwise(["events", "list", "--postgres", url, "--json", "--name", "app/user.signup"])
            #expect(try JSON(parsing: json.stdout)["data"]?.arrayValue?.count == 1, "\(json.stdout) \(json.stderr)")
            let shown = try stepwise(["events", "show", id, "--postgres", url])
            #expect(shown.status == 0, "\(shown.stderr)")
            #expect(try JSON(parsing: shown.stdout)["runs"] == .array([]))
            let runs = try stepwise(["runs", "list", "--postgres", url, "--json"])
            #expect(runs.status == 0, "\(runs.stderr)")
            #expect(try JSON(parsing: runs.stdout)["data"]?.arrayValue == [], "\(runs.stdout)")

            // The variable names the database when no option does; an option beats it.
            let fromVariable = try stepwise(["events", "list"], environment: [postgresURLVariable: url])
            #expect(fromVariable.status == 0, "\(fromVariable.stderr)")
            #expect(fromVariable.stdout.contains(id), "\(fromVariable.stdout)")
            let directory = try TemporaryDirectory()
            let file = try stepwise(["events", "list", "--db", directory.path("none.db")], environment: [postgresURLVariable: url])
            #expect(file.status != 0)
            #expect(file.stderr.contains("no database at"), "\(file.stderr)")

            // Refusals read as they do on a file.
            let unknownRun = try stepwise(["runs", "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--postgres", url])
            #expect(unknownRun.status != 0)
            #expect(unknownRun.stderr.contains("no run"), "\(unknownRun.stderr)")
            let both = try stepwise(["events", "list", "--db", directory.path("x.db"), "--postgres", url])
            #expect(both.status != 0)
            #expect(both.stderr.contains("not both"), "\(both.stderr)")
            let notAURL = try stepwise(["events", "list", "--postgres", "mysql://localhost/x"])
            #expect(notAURL.status != 0)
            #expect(notAURL.stderr.contains("--postgres") && notAURL.stderr.contains("is not a postgres:// URL"), "\(notAURL.stderr)")
        }
    }

    @Test("a server that cannot be reached ends every command and both servers with an error naming it, and a non-zero exit")
    func unreachable() throws {
        // Port 1 on loopback: nothing listens there, so each connection is refused at once.
        let wrong = "postgres://stepwise@127.0.0.1:1/stepwise_test?sslmode=disable"
        for arguments in [
            ["send", "app/x", "--postgres", wrong], ["runs", "list", "--postgres", wrong], ["events", "list", "--postgres", wrong],
            ["dev", "--postgres", wrong, "--port", "0"],
        ] {
            let finished = try stepwise(arguments)
            #expect(finished.status != 0, "\(arguments)")
            #expect(finished.stderr.contains("the PostgreSQL server at 127.0.0.1:1 cannot be reached"), "\(arguments): \(finished.stderr)")
            #expect(!finished.stdout.contains("listening"), "\(arguments): \(finished.stdout)")
        }
        let serve = try stepwise(
            ["serve", "--port", "0"], environment: [
                postgresURLVariable: wrong, "STEPWISE_EVENT_KEYS": "k", "STEPWISE_SIGNING_KEY": "s", "STEPWISE_ENCRYPTION_KEYS": testEncryptionKeys,
            ])
        #expect(serve.status != 0)
        #expect(serve.stderr.contains("127.0.0.1:1 cannot be reached"), "\(serve.stderr)")
    }

    @Test("an event posted to stepwise dev --postgres runs a function in a worker elsewhere on the same database, to completion")
    func devServesEventAPI() async throws {
        try await PostgresCLIServer.withSchema { databaseURL in
            // The server, over PostgreSQL: the line it prints once the store is open.
            let server = try RunningProcess(stepwiseTool, ["dev", "--postgres", databaseURL, "--port", "0"])
            defer { server.stop() }
            var url: String?
            while let line = await server.nextLine() {
                if let range = line.range(of: "listening on ") {
                    url = String(line[range.upperBound...].prefix { $0 != " " })
                    #expect(line.contains("(database: PostgreSQL "), "\(line)")
                    break
                }
            }
            let base = try #require(url, "stepwise dev --postgres exited before it listened")

            // The app's worker, in this process, on its own pool to the same schema.
            let store = try PostgresStore(try PostgresStore.Configuration(url: databaseURL), logger: quietLogger())
            let app = StepwiseClient(id: "pg-cli-test-app", store: store, logger: quietLogger())
            try app.createFunction(id: "double", trigger: .event("pgcli/number")) { event, step in
                try await step.run("double") { () -> Int64 in (event.data["n"]?.intValue ?? -1) * 2 }
            }
            let group = ServiceGroup(
                configuration: .init(services: [store, app.worker(.init(pollInterval: .milliseconds(100)))], gracefulShutdownSignals: [], logger: quietLogger()))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                do {
                    // An event creates runs for the functions registered when it is stored: wait
                    // for the worker to register, as the server sees it.
                    let registered = ContinuousClock.now + .seconds(60)
                    while ContinuousClock.now < registered {
                        let functions = try await get("\(base)/v1/functions").json?["data"]?.arrayValue ?? []
                        if functions.contains(where: { $0["id"] == "double" }) { break }
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    let answer = try await post("\(base)/e/any-key", #"{"name": "pgcli/number", "data": {"n": 21}}"#)
                    #expect(answer.status == 200, "\(answer.body)")
                    let eventID = try #require(answer.ids.first)

                    let deadline = ContinuousClock.now + .seconds(60)
                    var completed: [JSON] = []
                    while ContinuousClock.now < deadline {
                        completed = try await get("\(base)/v1/runs?status=completed").json?["data"]?.arrayValue ?? []
                        if !completed.isEmpty { break }
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    let run = try #require(completed.first, "no run completed within a minute")
                    #expect(run["function_id"] == "double")
                    #expect(run["event_id"]?.stringValue == eventID)
                    #expect(run["output"] == 42)

                    // The tool sees the same run on the database itself.
                    let listed = try stepwise(["runs", "list", "--status", "completed", "--json", "--postgres", databaseURL])
                    #expect(listed.status == 0, "\(listed.stderr)")
                    #expect(try JSON(parsing: listed.stdout)["data"]?[0]?["id"] == run["id"], "\(listed.stdout)")
                    let functions = try stepwise(["functions", "list", "--postgres", databaseURL])
                    #expect(functions.stdout.contains("pg-cli-test-app") && functions.stdout.contains("pgcli/number"), "\(functions.stdout)")
                } catch {
                    await group.triggerGracefulShutdown()
                    throw error
                }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }
}
