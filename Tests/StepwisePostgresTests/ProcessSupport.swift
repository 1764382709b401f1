import Foundation
import Synchronization
import Testing

/// A product built beside the test bundle (`swift build --build-tests` builds
/// StepwiseTestChild, a dependency of this target).
func builtExecutable(_ name: String) -> URL {
    let selfPath = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return selfPath.deletingLastPathComponent().appendingPathComponent(name)
}

/// A fresh directory for one test's files, removed when the test ends.
struct TemporaryDirectory: ~Copyable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("stepwise-pg-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A running `StepwiseTestChild`, its stdout read line by line; killed when dropped, so that
/// a test that fails half-way leaves no worker behind.
final class ChildProcess {
    private let process: Process
    private var iterator: AsyncThrowingStream<String, any Error>.AsyncIterator

    init(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = builtExecutable("StepwiseTestChild")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        let handle = pipe.fileHandleForReading
        let lines = AsyncThrowingStream<String, any Error> { continuation in
            Thread.detachNewThread {
                var buffer = Data()
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    buffer.append(chunk)
                    while let newline = buffer.firstIndex(of: 0x0A) {
                        let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                        buffer.removeSubrange(buffer.startIndex...newline)
                        continuation.yield(line)
                    }
                }
                continuation.finish()
            }
        }
        iterator = lines.makeAsyncIterator()
        try process.run()
        self.process = process
    }

    var pid: Int32 { process.processIdentifier }

    func nextLine() async throws -> String? {
        try await iterator.next()
    }

    /// SIGKILL, and waits for the process to be gone.
    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGSTOP: the process stops where it is, holding its connections and leases.
    func stop() {
        Foundation.kill(process.processIdentifier, SIGSTOP)
    }

    /// SIGCONT: a stopped process resumes where it stopped.
    func resume() {
        Foundation.kill(process.processIdentifier, SIGCONT)
    }

    deinit {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Runs a command to its end, its output appended to `log` (or discarded); returns its exit
/// status.
///
/// posix_spawn and waitpid rather than Foundation's `Process`: `pg_ctl start` leaves a
/// daemon behind, and `Process.waitUntilExit()` was seen never to return for it (the
/// `runuser` in front of it left a zombie that nothing reaped). Blocks its thread for as long
/// as the command runs, about a second for `pg_ctl`.
@discardableResult
func runCommand(_ executable: String, _ arguments: [String], log: String? = nil) throws -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, log ?? "/dev/null", O_WRONLY | O_APPEND | O_CREAT, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for argument in argv { free(argument) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
    guard spawned == 0 else { throw PostgresTestSetupError(message: "cannot start \(executable): errno \(spawned)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 {
        guard errno == EINTR else { throw PostgresTestSetupError(message: "waitpid(\(executable)) failed: errno \(errno)") }
    }
    // WIFEXITED / WEXITSTATUS, which Swift does not import: the low 7 bits are the signal.
    return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// A TCP port on the loopback that nothing listens on now: the kernel's choice for a socket
/// bound to port 0, closed again.
func unusedLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw PostgresTestSetupError(message: "socket() failed: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw PostgresTestSetupError(message: "bind() failed: errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw PostgresTestSetupError(message: "getsockname() failed: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A PostgreSQL server of the test's own, in a temporary data directory, for the tests that
/// stop or restart the server: the shared one (`STEPWISE_TEST_POSTGRES_URL`) serves every
/// other test and is never touched.
///
/// Started with the PostgreSQL binaries of `STEPWISE_TEST_POSTGRES_BIN`, or those of Debian's
/// `postgresql-15` (`/usr/lib/postgresql/15/bin`, what `.ci/run` uses); as the `postgres` user
/// when the tests run as root (initdb refuses root). Trust authentication on the loopback
/// only, as `.ci/run`'s server.
final class ThrowawayPostgres: Sendable {
    let bin: String
    let base: URL
    let data: String
    let port: Int
    private let stopped = Atomic<Bool>(false)

    static func binaries() throws -> String {
        let environment = ProcessInfo.processInfo.environment["STEPWISE_TEST_POSTGRES_BIN"].flatMap { $0.isEmpty ? nil : $0 }
        let bin = environment ?? "/usr/lib/postgresql/15/bin"
        guard FileManager.default.isExecutableFile(atPath: "\(bin)/initdb") else {
            throw PostgresTestSetupError(
                message: "no PostgreSQL binaries at \(bin) (initdb): install postgresql-15 or set STEPWISE_TEST_POSTGRES_BIN")
        }
        return bin
    }

    init() throws {
        bin = try Self.binaries()
        base = FileManager.default.temporaryDirectory.appendingPathComponent("stepwise-pg-server-\(UUID().uuidString)")
        data = base.appendingPathComponent("data").path
        port = try unusedLoopbackPort()
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        if getuid() == 0 {
            try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: data)
        }
        try tool("initdb", ["-D", data, "-U", "stepwise", "--auth=trust", "-E", "UTF8", "--no-sync"])
        try start()
    }

    /// The URL of its `postgres` database.
    var url: String { "postgres://stepwise@127.0.0.1:\(port)/postgres?sslmode=disable" }

    private var commandLog: String { base.appendingPathComponent("commands.log").path }

    /// Runs one of the server's tools, as `postgres` when we are root.
    private func tool(_ name: String, _ arguments: [String]) throws {
        let status =
            getuid() == 0
            ? try runCommand("/usr/sbin/runuser", ["-u", "postgres", "--", "\(bin)/\(name)"] + arguments, log: commandLog)
            : try runCommand("\(bin)/\(name)", arguments, log: commandLog)
        guard status == 0 else {
            let output = (try? String(contentsOfFile: commandLog, encoding: .utf8)) ?? ""
            let server = (try? String(contentsOfFile: "\(data)/server.log", encoding: .utf8)) ?? ""
            throw PostgresTestSetupError(
                message: "\(name) \(arguments.joined(separator: " ")) exited \(status): \(output.suffix(1500)) server log: \(server.suffix(1500))")
        }
    }

    /// Starts the server and waits until it accepts connections.
    func start() throws {
        try tool("pg_ctl", [
            "-D", data, "-l", "\(data)/server.log", "-w", "-t", "60",
            "-o", "-c listen_addresses=127.0.0.1 -p \(port) -k \(data)", "start",
        ])
    }

    /// Stops the server: `immediate` is a crash (every backend quits at once, no checkpoint,
    /// recovery at the next start), `fast` a clean shutdown that disconnects every client.
    func stop(mode: String = "immediate") throws {
        try tool("pg_ctl", ["-D", data, "-m", mode, "-w", "-t", "60", "stop"])
    }

    /// Stops the server for good and removes its files.
    func remove() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        try? stop(mode: "immediate")
        try? FileManager.default.removeItem(at: base)
    }

    deinit { remove() }
}
