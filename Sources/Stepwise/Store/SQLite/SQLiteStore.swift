import CSQLite
import Foundation

/// The embedded store: one SQLite database file, through the system's libsqlite3.
///
/// One connection writes, on a thread of its own, committing the writes of concurrent
/// callers together (see ``SQLiteStore/Configuration``); reads go to reader connections.
/// Several processes may open the same file: SQLite's locks let one write at a time, and
/// each waits up to the busy timeout for its turn.
///
/// ```swift
/// let stepwise = StepwiseClient(id: "acme-storefront-app", store: try .sqlite(path: "stepwise.db"))
/// ```
public final class SQLiteStore: Store {
    /// How durable a commit is, SQLite's `synchronous` setting.
    public enum Durability: String, Sendable, Hashable {
        /// `synchronous=FULL`, the default: "the SQLite database engine will use the xSync
        /// method of the VFS to ensure that all content is safely written to the disk surface
        /// prior to continuing" (sqlite.org/pragma.html#pragma_synchronous). A commit that
        /// returned survives a power loss.
        case full = "FULL"
        /// `synchronous=NORMAL`, an opt-in: in WAL mode the WAL is synced only at
        /// checkpoints, so "a transaction committed in WAL mode with synchronous=NORMAL might
        /// roll back following a power loss or system crash" — though not after the process
        /// alone dies. Faster; a deliberate trade.
        case normal = "NORMAL"
    }

    public struct Configuration: Sendable, Hashable {
        /// The database file's path, or `nil` for a private in-memory database (tests).
        public var path: String?
        public var durability: Durability
        /// How long a write waits for another process's lock before failing.
        public var busyTimeout: Duration
        /// How many reader connections to open (file databases only).
        public var readers: Int
        /// How often the change feed (``changes()``) looks for commits by other processes.
        public var changePollInterval: Duration

        public init(
            path: String?, durability: Durability = .full, busyTimeout: Duration = .seconds(10), readers: Int = 2,
            changePollInterval: Duration = .milliseconds(100)
        ) {
            self.path = path
            self.durability = durability
            self.busyTimeout = busyTimeout
            self.readers = readers
            self.changePollInterval = changePollInterval
        }
    }

    public let configuration: Configuration
    let writer: SQLiteWriter
    private let readers: SQLiteReaderPool
    private let checkpointer: SQLiteCheckpointer?
    let idGenerator: ULIDGenerator

    /// Opens (creating if needed, with its folders) and migrates the database.
    ///
    /// Opening blocks the calling thread while SQLite opens the file and applies migrations;
    /// do it once, at startup.
    /// - Throws: ``SQLiteError`` when the file cannot be opened or is not a Stepwise
    ///   database, ``SQLiteStoreError`` when its schema is newer than this build knows.
    public init(
        _ configuration: Configuration,
        idGenerator: ULIDGenerator = .shared,
        commitObserver: (@Sendable (_ writes: Int) -> Void)? = nil
    ) throws {
        guard sqlite3_threadsafe() != 0 else {
            throw SQLiteStoreError.notThreadSafe
        }
        self.configuration = configuration
        self.idGenerator = idGenerator
        let path = configuration.path ?? ":memory:"
        if let filePath = configuration.path {
            try Self.createFolder(containing: filePath)
        }
        let label = "stepwise.sqlite.\(configuration.path ?? "memory")"

        let writerConnection = try SQLiteConnection(path: path, readOnly: false)
        try Self.configure(writerConnection, configuration: configuration, isWriter: true)
        var checkpointer: SQLiteCheckpointer?
        if configuration.path != nil {
            let connection = try SQLiteConnection(path: path, readOnly: false)
            try Self.configure(connection, configuration: configuration, isWriter: false)
            checkpointer = SQLiteCheckpointer(queue: SQLiteQueue(label: label + ".checkpointer", connection: connection))
        }
        let writer = SQLiteWriter(
            label: label + ".writer", connection: writerConnection, checkpointer: checkpointer, commitObserver: commitObserver)
        try writer.sync { connection in try SQLiteMigrations.migrate(connection) }
        self.writer = writer
        self.checkpointer = checkpointer

        var readerQueues: [SQLiteQueue] = []
        if configuration.path != nil {
            for index in 0..<max(0, configuration.readers) {
                let connection = try SQLiteConnection(path: path, readOnly: true)
                try Self.configure(connection, configuration: configuration, isWriter: false)
                readerQueues.append(SQLiteQueue(label: label + ".reader\(index)", connection: connection))
            }
        }
        self.readers = SQLiteReaderPool(readers: readerQueues)
    }

    /// Creates the folders a new database file goes in: SQLite creates a missing file, but
    /// not a missing folder ("unable to open database file"), and a path such as
    /// `.stepwise/app.db` is the usual first thing an app asks for.
    private static func createFolder(containing path: String) throws {
        // URI file names and SQLite's special names are SQLite's to interpret.
        guard !path.isEmpty, !path.hasPrefix("file:"), path != ":memory:" else { return }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder) {
            guard isFolder.boolValue else { throw SQLiteStoreError.cannotCreateFolder(path: folder.path, reason: "a file is in the way") }
            return
        }
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw SQLiteStoreError.cannotCreateFolder(path: folder.path, reason: "\(error.localizedDescription)")
        }
    }

    private static func configure(_ connection: SQLiteConnection, configuration: Configuration, isWriter: Bool) throws {
        let timeout = configuration.busyTimeout.components
        let milliseconds = timeout.seconds * 1000 + timeout.attoseconds / 1_000_000_000_000_000
        connection.setBusyTimeout(milliseconds: Int32(clamping: milliseconds))
        // "Foreign key constraints are disabled by default", for compatibility
        // (sqlite.org/foreignkeys.html): Stepwise's schema relies on them (a function's
        // triggers and schedules go with it), in memory as on disk.
        try connection.execute("PRAGMA foreign_keys=ON")
        guard configuration.path != nil else { return }
        if isWriter {
            try enableWAL(connection, timeoutMilliseconds: milliseconds)
        }
        try connection.execute("PRAGMA synchronous=\(configuration.durability.rawValue)")
    }

    /// Puts the database in WAL mode: "WAL provides more concurrency as readers do not block
    /// writers and a writer does not block readers" (sqlite.org/wal.html).
    ///
    /// The mode is stored in the file, so it is read first and set only on a new database.
    /// Setting it needs an exclusive lock, and when two processes open a new file at once
    /// SQLite answers `SQLITE_BUSY` at once rather than calling the busy handler: so this
    /// retries until the busy timeout. The pragma answers with the mode it set and can
    /// refuse (on a file system without shared memory, say): the answer is checked.
    private static func enableWAL(_ connection: SQLiteConnection, timeoutMilliseconds: Int64) throws {
        var waited: Int64 = 0
        while true {
            do {
                if try connection.scalarText("PRAGMA journal_mode")?.lowercased() == "wal" { return }
                let mode = try connection.scalarText("PRAGMA journal_mode=WAL")
                guard mode?.lowercased() == "wal" else {
                    throw SQLiteStoreError.walUnavailable(mode: mode ?? "unknown")
                }
                return
            } catch let error as SQLiteError where error.primaryCode == SQLITE_BUSY && waited < timeoutMilliseconds {
                sqlite3_sleep(10)
                waited += 10
            }
        }
    }

    /// How many background checkpoints have copied frames into the database file so far, each
    /// with an fsync of the WAL and one of the database file: for the benchmarks.
    package var checkpointsCopyingFrames: Int {
        checkpointer?.checkpointsCopyingFrames.load(ordering: .relaxed) ?? 0
    }

    /// Runs a read on a reader connection, or on the writer when there are none (in memory).
    func read<Value: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> Value) async throws -> Value {
        if readers.isEmpty {
            return try await writer.write(body)
        }
        return try await readers.read(body)
    }
}

extension Store where Self == SQLiteStore {
    /// A SQLite store in the file at `path`, created if missing, with the folders it goes in.
    public static func sqlite(path: String, durability: SQLiteStore.Durability = .full) throws -> SQLiteStore {
        try SQLiteStore(.init(path: path, durability: durability))
    }

    /// A private in-memory SQLite store, gone when the process ends: for tests.
    public static func inMemory() throws -> SQLiteStore {
        try SQLiteStore(.init(path: nil))
    }
}

/// Why a SQLite store could not be opened.
public enum SQLiteStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The system's libsqlite3 was built without thread support, which Stepwise needs.
    case notThreadSafe
    /// The folder the database file goes in does not exist and could not be created.
    case cannotCreateFolder(path: String, reason: String)
    /// The file system refused WAL mode; `mode` is the journal mode SQLite kept.
    case walUnavailable(mode: String)
    /// A row could not be read back: the file was changed by something other than Stepwise.
    case corruptRow(table: String, reason: String)
    /// A checkpoint asked for something the store cannot do (a bug in the caller).
    case invalidCheckpoint(reason: String)
    /// The database was written by a newer Stepwise whose schema this build does not know.
    case schemaTooNew(found: Int, known: Int)

    public var description: String {
        switch self {
        case .notThreadSafe:
            return "the system's libsqlite3 was built with SQLITE_THREADSAFE=0; Stepwise needs a thread-safe build"
        case .cannotCreateFolder(let path, let reason):
            return "could not create the folder \(path) for the database file: \(reason)"
        case .walUnavailable(let mode):
            return "SQLite could not switch the database to WAL mode (it stayed in '\(mode)'); is it on a network file system?"
        case .corruptRow(let table, let reason):
            return "a row of \(table) could not be read: \(reason)"
        case .invalidCheckpoint(let reason):
            return "invalid checkpoint: \(reason)"
        case .schemaTooNew(let found, let known):
            return "the database has schema version \(found), newer than the \(known) this build of Stepwise knows; upgrade Stepwise"
        }
    }
}
