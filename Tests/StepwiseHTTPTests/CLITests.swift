import Foundation
import Testing
@testable import Stepwise

/// A process started from a built executable, its stdout read line by line.
final class RunningProcess {
    private let process: Process
    private var iterator: AsyncStream<String>.AsyncIterator

    init(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], directory: URL? = nil) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = directory }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        let handle = pipe.fileHandleForReading
        let lines = AsyncStream<String> { continuation in
            Thread.detachNewThread {
                var buffer = Data()
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    buffer.append(chunk)
                    while let newline = buffer.firstIndex(of: 0x0A) {
                        continuation.yield(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
                        buffer.removeSubrange(buffer.startIndex...newline)
                    }
                }
                continuation.finish()
            }
        }
        iterator = lines.makeAsyncIterator()
        try process.run()
        self.process = process
    }

    func nextLine() async -> String? { await iterator.next() }

    func stop() {
        if process.isRunning {
            process.interrupt()
            process.waitUntilExit()
        }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// What a finished command printed.
struct Finished {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs a command to its end.
func runCommand(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], directory: URL? = nil) throws -> Finished {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    var variables = ProcessInfo.processInfo.environment
    // STEPWISE_POSTGRES_URL too: it would move the commands given no --db onto PostgreSQL.
    for name in [
        "STEPWISE_EVENT_KEYS", "INNGEST_EVENT_KEY", "STEPWISE_SIGNING_KEY", "INNGEST_SIGNING_KEY", "STEPWISE_EVENT_KEY", "STEPWISE_POSTGRES_URL",
        "STEPWISE_ENCRYPTION_KEYS",
    ] {
        variables[name] = nil
    }
    process.environment = variables.merging(environment) { $1 }
    if let directory { process.currentDirectoryURL = directory }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read before waiting: a full pipe would block the child forever.
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Finished(
        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
}

let stepwiseTool = builtExecutable("stepwise")

/// A key list for `STEPWISE_ENCRYPTION_KEYS` (32 bytes: 0, 1, 2, …, 31), for the tests of
/// `stepwise serve`, which will not start without one.
let testEncryptionKeys = "test-key:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

/// Starts `stepwise dev` on a free port over `database`; returns it and its base URL.
func startDevServer(database: String, arguments: [String] = ["dev"], environment: [String: String] = [:]) async throws -> (RunningProcess, String) {
    let server = try RunningProcess(stepwiseTool, arguments + ["--db", database, "--port", "0"], environment: environment)
    while let line = await server.nextLine() {
        if let range = line.range(of: "listening on ") {
            let url = line[range.upperBound...].prefix { $0 != " " }
            return (server, String(url))
        }
    }
    throw TestFailure("the server exited before it listened")
}

@Suite("The stepwise tool, as separate processes")
struct CLITests {
    @Test("the seed's curl example works as written against stepwise dev")
    func seedCurlExample() async throws {
        let directory = try TemporaryDirectory()
        let (server, url) = try await startDevServer(database: directory.path("dev.db"))
        defer { server.stop() }
        let port = try #require(URL(string: url)?.port)
        // The seed's command, with the development server's address for inn.gs, and no key set.
        let command = """
            curl -s http://localhost:\(port)/e/$INNGEST_EVENT_KEY \\
              -H 'Content-Type: application/json' \\
              --data '{
                "name": "user.signup",
                "data": {
                  "userId": "645ea8289ad09eac29230442"
                }
              }'
            """
        let curl = try runCommand(URL(fileURLWithPath: "/bin/sh"), ["-c", command], environment: ["INNGEST_EVENT_KEY": ""])
        #expect(curl.status == 0, "curl is needed for this test: \(curl.stderr)")
        let answer = try JSON(parsing: curl.stdout)
        #expect(answer["status"] == 200)
        let id = try #require(answer["ids"]?[0]?.stringValue)
        #expect(EventID(id) != nil)

        let shown = try runCommand(stepwiseTool, ["events", "show", id, "--url", url])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(shown.stdout.contains(#""userId": "645ea8289ad09eac29230442""#))
    }

    @Test("an event posted to stepwise dev runs a function in a separate worker process on the same file")
    func crossProcess() async throws {
        let directory = try TemporaryDirectory()
        let database = directory.path("shared.db")
        let (server, url) = try await startDevServer(database: database)
        defer { server.stop() }
        let worker = try RunningProcess(builtExecutable("StepwiseTestChild"), ["worker", database, directory.path("steps.log")])
        defer { worker.stop() }
        #expect(await worker.nextLine() == "ready")

        let answer = try await post("\(url)/e/any-key", #"{"name": "crash/start", "data": {"n": 21}}"#)
        let eventID = try #require(answer.ids.first)
        let deadline = ContinuousClock.now + .seconds(60)
        var runs: [JSON] = []
        while ContinuousClock.now < deadline {
            runs = try await get("\(url)/v1/runs?status=completed").json?["data"]?.arrayValue ?? []
            if runs.count == 2 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(Set(runs.compactMap { $0["function_id"]?.stringValue }) == ["producer", "consumer"])
        let producer = try #require(runs.first { $0["function_id"] == "producer" })
        #expect(producer["event_id"]?.stringValue == eventID)
        #expect(producer["output"] == 21)
    }

    @Test("stepwise serve refuses to start without keys, and says which are missing")
    func serveNeedsKeys() throws {
        let directory = try TemporaryDirectory()
        let none = try runCommand(stepwiseTool, ["serve", "--db", directory.path("prod.db"), "--port", "0"])
        #expect(none.status != 0)
        #expect(none.stderr.contains("no event key") && none.stderr.contains("no signing key"), "\(none.stderr)")
        #expect(none.stderr.contains("STEPWISE_ENCRYPTION_KEYS"), "without encryption keys too: \(none.stderr)")
        let half = try runCommand(
            stepwiseTool, ["serve", "--db", directory.path("prod.db"), "--port", "0"], environment: ["INNGEST_EVENT_KEY": "k"])
        #expect(half.status != 0)
        #expect(!half.stderr.contains("no event key") && half.stderr.contains("no signing key"), "\(half.stderr)")
        let noEncryption = try runCommand(
            stepwiseTool, ["serve", "--db", directory.path("prod.db"), "--port", "0"],
            environment: ["INNGEST_EVENT_KEY": "k", "STEPWISE_SIGNING_KEY": "s"])
        #expect(noEncryption.status != 0)
        #expect(noEncryption.stderr.contains("STEPWISE_ENCRYPTION_KEYS") && !noEncryption.stderr.contains("signing key"), "\(noEncryption.stderr)")
        let badKeys = try runCommand(
            stepwiseTool, ["serve", "--db", directory.path("prod.db"), "--port", "0"],
            environment: ["INNGEST_EVENT_KEY": "k", "STEPWISE_SIGNING_KEY": "s", "STEPWISE_ENCRYPTION_KEYS": "k1:AAAA"])
        #expect(badKeys.status != 0)
        #expect(badKeys.stderr.contains("key 'k1' is 3 bytes; AES-256 needs 32"), "\(badKeys.stderr)")
        let noDatabase = try runCommand(
            stepwiseTool, ["serve"],
            environment: ["INNGEST_EVENT_KEY": "k", "STEPWISE_SIGNING_KEY": "s", "STEPWISE_ENCRYPTION_KEYS": testEncryptionKeys])
        #expect(noDatabase.status != 0)
        #expect(noDatabase.stderr.contains("--db"))
    }

    @Test("stepwise serve takes keys from the environment, and enforces them")
    func serveWithKeys() async throws {
        let directory = try TemporaryDirectory()
        let (server, url) = try await startDevServer(
            database: directory.path("prod.db"), arguments: ["serve"],
            environment: ["STEPWISE_EVENT_KEYS": "k1,k2", "STEPWISE_SIGNING_KEY": "sign", "STEPWISE_ENCRYPTION_KEYS": testEncryptionKeys])
        defer { server.stop() }
        #expect(try await post("\(url)/e/k2", #"{"name": "a", "data": {}}"#).status == 200)
        #expect(try await post("\(url)/e/k3", #"{"name": "a", "data": {}}"#).status == 401)
        #expect(try await get("\(url)/v1/events").status == 401)
        let listed = try runCommand(stepwiseTool, ["events", "list", "--url", url, "--json"], environment: ["STEPWISE_SIGNING_KEY": "sign"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(try JSON(parsing: listed.stdout)["data"]?.arrayValue?.count == 1)
        let sent = try runCommand(stepwiseTool, ["send", "b", "--url", url, "--event-key", "k1"])
        #expect(sent.status == 0, "\(sent.stderr)")
        let refused = try runCommand(stepwiseTool, ["send", "b", "--url", url, "--event-key", "nope"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("Event key not found"), "\(refused.stderr)")
    }

    @Test("events show says why an event started no run, and runs show why a run waits")
    func flowControlVisibility() async throws {
        let directory = try TemporaryDirectory()
        let database = directory.path("flow.db")
        let store = try SQLiteStore(.init(path: database))
        let worker = StepwiseClient(id: "shop", store: store, logger: quietLogger())
        try worker.createFunction(id: "large-orders", trigger: .event("shop/order", if: "event.data.total > 100")) { _, _ in }
        try worker.createFunction(
            id: "one-per-customer", trigger: .event("shop/order"), options: .init(concurrency: [.init(limit: 1, key: "event.data.customer")])
        ) { _, _ in }
        try await worker.registerFunctions()
        let small = try runCommand(stepwiseTool, ["send", "shop/order", "--data", #"{"total": 5, "customer": "c1"}"#, "--db", database])
        let id = small.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let shown = try JSON(parsing: try runCommand(stepwiseTool, ["events", "show", id, "--db", database]).stdout)
        #expect(shown["admissions"]?[0]?["function_id"] == "large-orders")
        #expect(shown["admissions"]?[0]?["reason"] == "filtered")
        _ = try runCommand(stepwiseTool, ["send", "shop/order", "--data", #"{"total": 5, "customer": "c1"}"#, "--db", database])
        let claimed = try await store.claim(ClaimRequest(
            appID: "shop", functionIDs: ["one-per-customer"], owner: "w", now: SystemWallClock().now(), leaseDuration: 60_000, limit: 10))
        #expect(claimed.count == 1)
        let parked = try #require(try await store.runs(RunQuery(functionID: "one-per-customer", limit: 10)).first { $0.status == .queued })
        let run = try JSON(parsing: try runCommand(stepwiseTool, ["runs", "show", parked.id.description, "--db", database]).stdout)
        #expect(run["blocked_by"]?["kind"] == "concurrency")
        #expect(run["blocked_by"]?["reason"]?.stringValue?.contains("concurrency key 'c1'") == true)
    }

    @Test("send, events and runs work on a database file, with clear errors and non-zero exits")
    func onDatabaseFile() throws {
        let directory = try TemporaryDirectory()
        let database = directory.path("local.db")
        // Reading commands do not create a database.
        let missing = try runCommand(stepwiseTool, ["events", "list", "--db", database])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no database at"))
        #expect(!FileManager.default.fileExists(atPath: database))

        _ = try SQLiteStore(.init(path: database))
        let sent = try runCommand(stepwiseTool, ["send", "app/user.signup", "--data", #"{"userId": "u1"}"#, "--id", "signup-u1", "--db", database])
        #expect(sent.status == 0, "\(sent.stderr)")
        let id = sent.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(EventID(id) != nil)
        let again = try runCommand(stepwiseTool, ["send", "app/user.signup", "--data", #"{"userId": "u1"}"#, "--id", "signup-u1", "--db", database])
        #expect(again.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == id, "a duplicate prints the first event's id")

        let table = try runCommand(stepwiseTool, ["events", "list", "--db", database])
        #expect(table.status == 0)
        #expect(table.stdout.contains(id) && table.stdout.contains("app/user.signup") && table.stdout.contains("signup-u1"))
        let json = try runCommand(stepwiseTool, ["events", "list", "--db", database, "--json", "--name", "app/user.signup"])
        #expect(try JSON(parsing: json.stdout)["data"]?.arrayValue?.count == 1)
        let shown = try runCommand(stepwiseTool, ["events", "show", id, "--db", database])
        #expect(shown.status == 0)
        #expect(try JSON(parsing: shown.stdout)["runs"] == .array([]))
        let runs = try runCommand(stepwiseTool, ["runs", "list", "--db", database])
        #expect(runs.status == 0)

        for (arguments, message) in [
            (["send", "x", "--data", "[1]"], "events[0].data: must be a JSON object, not an array"),
            (["send", "x", "--data", "{oops"], "--data: malformed JSON"),
            (["send", " "], "events[0].name: must not be empty"),
            (["events", "show", "nope"], "is not an event id"),
            (["events", "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV"], "no event"),
            (["events", "list", "--since", "last week"], "since: must be milliseconds"),
            (["runs", "list", "--status", "done"], "status: must be one of"),
            (["runs", "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV"], "no run"),
            (["runs", "cancel", "01ARZ3NDEKTSV4RRFFQ69G5FAV"], "no run"),
            (["runs", "rerun", "01ARZ3NDEKTSV4RRFFQ69G5FAV"], "no run"),
            (["events", "list", "--limit", "0"], "--limit"),
        ] {
            let finished = try runCommand(stepwiseTool, arguments + ["--db", database])
            #expect(finished.status != 0, "\(arguments)")
            #expect(finished.stderr.contains(message), "\(arguments): \(finished.stderr)")
        }
        let both = try runCommand(stepwiseTool, ["events", "list", "--db", database, "--url", "http://127.0.0.1:1"])
        #expect(both.status != 0)
        #expect(both.stderr.contains("not both"))
    }

    @Test("the storefront example and the tool share a default database, and each says which it uses")
    func sharedDefaultDatabase() async throws {
        let directory = try TemporaryDirectory()
        let example = try runCommand(builtExecutable("storefront"), [], directory: directory.url)
        #expect(example.status == 0, "\(example.stderr)")
        #expect(example.stdout.contains("storefront: database .stepwise/dev.db"), "\(example.stdout)")
        #expect(example.stdout.contains("all runs done"))
        // The tool, in the same folder and given no --db, sees what the example did.
        let functions = try runCommand(stepwiseTool, ["functions", "list"], directory: directory.url)
        #expect(functions.status == 0, "\(functions.stderr)")
        for id in ["send-receipt", "update-inventory", "award-loyalty-points", "email-receipt"] {
            #expect(functions.stdout.contains(id), "\(id): \(functions.stdout)")
        }
        let runs = try runCommand(stepwiseTool, ["runs", "list", "--status", "completed", "--json"], directory: directory.url)
        #expect(try JSON(parsing: runs.stdout)["data"]?.arrayValue?.count == 4, "three fan-out runs and the one their event starts: \(runs.stdout)")

        // functions invoke: on the file, then through a server's REST API, each a queued run.
        let invoked = try runCommand(
            stepwiseTool, ["functions", "invoke", "email-receipt", "--data", #"{"cartId": "ed12c8bde"}"#], directory: directory.url)
        #expect(invoked.status == 0, "\(invoked.stderr)")
        let runID = invoked.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let shown = try runCommand(stepwiseTool, ["runs", "show", runID], directory: directory.url)
        let run: JSON? = try JSON(parsing: shown.stdout)
        #expect(run?["function_id"] == "email-receipt" && run?["status"] == "queued", "\(shown.stdout)")
        for (arguments, message) in [
            (["functions", "invoke", "email-receipt", "--data", "[1]"], "must be a JSON object"),
            (["functions", "invoke", "email-receipt", "--data", "{"], "--data: malformed JSON"),
            (["functions", "invoke", "nobody"], "no function 'nobody'"),
        ] {
            let refused = try runCommand(stepwiseTool, arguments, directory: directory.url)
            #expect(refused.status != 0, "\(arguments)")
            #expect(refused.stderr.contains(message), "\(arguments): \(refused.stderr)")
        }
        let (server, url) = try await startDevServer(database: directory.path(".stepwise/dev.db"))
        defer { server.stop() }
        let remote = try runCommand(stepwiseTool, ["functions", "invoke", "email-receipt", "--url", url])
        #expect(remote.status == 0, "\(remote.stderr)")
        let remoteID = remote.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await get("\(url)/v1/runs/\(remoteID)").json?["data"]?["function_id"] == "email-receipt")
        let unknown = try runCommand(stepwiseTool, ["functions", "invoke", "nobody", "--url", url])
        #expect(unknown.status != 0 && unknown.stderr.contains("HTTP 404"), "\(unknown.stderr)")
    }

    @Test("stepwise serve encrypts user at rest: the database file holds no byte of it; the REST API and the tool read it decrypted")
    func serveEncryptsUser() async throws {
        let directory = try TemporaryDirectory()
        let database = directory.path("prod.db")
        let keys = ["STEPWISE_EVENT_KEYS": "k1", "STEPWISE_SIGNING_KEY": "sign", "STEPWISE_ENCRYPTION_KEYS": testEncryptionKeys]
        let (server, url) = try await startDevServer(database: database, arguments: ["serve"], environment: keys)
        let posted = try await post("\(url)/e/k1", #"{"name": "a", "data": {}, "user": {"email": "carol-8d1f@example.com"}}"#)
        #expect(posted.status == 200)
        let id = try #require(posted.ids.first)
        let shown = try runCommand(stepwiseTool, ["events", "show", id, "--url", url], environment: ["STEPWISE_SIGNING_KEY": "sign"])
        #expect(shown.stdout.contains("carol-8d1f@example.com"), "the REST API decrypts: \(shown.stdout)")
        server.stop()
        for suffix in ["", "-wal"] {
            if let bytes = FileManager.default.contents(atPath: database + suffix) {
                #expect(bytes.range(of: Data("carol-8d1f".utf8)) == nil, "\(database + suffix) holds the user in plain text")
            }
        }
        let local = try runCommand(stepwiseTool, ["events", "show", id, "--db", database], environment: keys)
        #expect(local.stdout.contains("carol-8d1f@example.com"), "the tool decrypts with the keys: \(local.stdout) \(local.stderr)")
        let keyless = try runCommand(stepwiseTool, ["events", "show", id, "--db", database])
        #expect(keyless.status != 0)
        #expect(keyless.stderr.contains("'test-key'"), "without the key, an error naming it: \(keyless.stderr)")
        let refused = try runCommand(stepwiseTool, ["send", "a", "--user", #"{"n": 1}"#, "--db", database])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("no encryption key is configured"), "\(refused.stderr)")
    }

    @Test("stepwise keys rotate re-encrypts stored users with the new first key, so the old key can go")
    func keysRotate() throws {
        let directory = try TemporaryDirectory()
        let database = directory.path("local.db")
        _ = try SQLiteStore(.init(path: database))
        let sent = try runCommand(
            stepwiseTool, ["send", "a", "--user", #"{"email": "dave-51c2@example.com"}"#, "--db", database],
            environment: ["STEPWISE_ENCRYPTION_KEYS": testEncryptionKeys])
        #expect(sent.status == 0, "\(sent.stderr)")
        let id = sent.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let newKey = "new-key:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
        let rotated = try runCommand(
            stepwiseTool, ["keys", "rotate", "--db", database], environment: ["STEPWISE_ENCRYPTION_KEYS": "\(newKey),\(testEncryptionKeys)"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(rotated.stdout.contains("re-encrypted 1 events"), "\(rotated.stdout)")
        let shown = try runCommand(stepwiseTool, ["events", "show", id, "--db", database], environment: ["STEPWISE_ENCRYPTION_KEYS": newKey])
        #expect(shown.stdout.contains("dave-51c2@example.com"), "readable with the new key alone: \(shown.stdout) \(shown.stderr)")
        let keyless = try runCommand(stepwiseTool, ["keys", "rotate", "--db", database])
        #expect(keyless.status != 0 && keyless.stderr.contains("STEPWISE_ENCRYPTION_KEYS"), "\(keyless.stderr)")
    }

    @Test("stepwise prune deletes what is past the age, keeps the rest, and reports sizes before and after")
    func prune() throws {
        let directory = try TemporaryDirectory()
        let database = directory.path("local.db")
        _ = try SQLiteStore(.init(path: database))
        let old = try runCommand(stepwiseTool, ["send", "a", "--ts", "1700000000000", "--db", database])
        #expect(old.status == 0, "\(old.stderr)")
        let pruned = try runCommand(stepwiseTool, ["prune", "--older-than", "30d", "--db", database])
        #expect(pruned.status == 0, "\(pruned.stderr)")
        #expect(pruned.stdout.contains("before: 1 events") && pruned.stdout.contains("after:  1 events"), "received now, so kept: \(pruned.stdout)")
        let bad = try runCommand(stepwiseTool, ["prune", "--older-than", "30 days", "--db", database])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("30 days"), "\(bad.stderr)")
    }

    @Test("--help works for every command")
    func help() throws {
        for command in [[], ["dev"], ["serve"], ["send"], ["events"], ["events", "list"], ["events", "show"], ["runs"], ["runs", "list"],
                        ["runs", "show"], ["runs", "cancel"], ["runs", "rerun"], ["functions"], ["functions", "list"], ["functions", "invoke"], ["prune"],
                        ["keys"], ["keys", "generate"], ["keys", "rotate"]] {
            let finished = try runCommand(stepwiseTool, command + ["--help"])
            #expect(finished.status == 0, "\(command)")
            #expect(finished.stdout.contains("USAGE:"), "\(command)")
        }
        let unknown = try runCommand(stepwiseTool, ["launch"])
        #expect(unknown.status != 0)
    }
}
