import Dispatch
import Synchronization

/// A connection confined to a serial dispatch queue of its own.
///
/// SQLite calls block (on disk, on fsync, on another process's lock), so they run on this
/// queue's thread and never on Swift's cooperative pool, whose few threads every task of
/// the app shares. Callers `await` the result; the queue resumes them.
///
/// `@unchecked Sendable` is safe here: `connection` is touched only inside blocks running on
/// `queue`, which is serial, so no two threads ever use it at once.
final class SQLiteQueue: @unchecked Sendable {
    let label: String
    private let queue: DispatchQueue
    private let connection: SQLiteConnection

    init(label: String, connection: SQLiteConnection) {
        self.label = label
        self.queue = DispatchQueue(label: label)
        self.connection = connection
    }

    /// Runs `body` on the queue and waits for it, blocking the calling thread: for opening
    /// and migrating, before the store is handed out.
    func sync<Value>(_ body: (SQLiteConnection) throws -> Value) throws -> Value {
        try queue.sync { try body(connection) }
    }

    /// Runs `body` on the queue without waiting.
    func async(_ body: @escaping @Sendable (SQLiteConnection) -> Void) {
        queue.async { body(self.connection) }
    }

    /// Runs `body` on the queue and suspends the caller until it is done.
    func run<Value: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body(self.connection) })
            }
        }
    }
}

/// The reader connections of a store, used in turn.
///
/// In WAL mode "readers do not block writers and a writer does not block readers"
/// (sqlite.org/wal.html), so reads on these connections go on while the writer commits.
final class SQLiteReaderPool: Sendable {
    private let readers: [SQLiteQueue]
    private let next = Atomic<UInt>(0)

    init(readers: [SQLiteQueue]) {
        self.readers = readers
    }

    var isEmpty: Bool { readers.isEmpty }

    /// Runs `body` in a read transaction, so that all it reads comes from one snapshot.
    func read<Value: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> Value) async throws -> Value {
        let index = Int(next.wrappingAdd(1, ordering: .relaxed).oldValue % UInt(readers.count))
        return try await readers[index].run { connection in
            try connection.run("BEGIN DEFERRED")
            defer { _ = try? connection.run("COMMIT") }
            return try body(connection)
        }
    }
}
