import CSQLite
import Dispatch

/// Commits by other processes on the same file, seen through `PRAGMA data_version`: "The
/// integer values returned by two invocations of "PRAGMA data_version" from the same
/// connection will be different if changes were committed to the database by any other
/// connection in the interim" (sqlite.org/pragma.html#pragma_data_version).
///
/// SQLite has no notifications across processes, so each feed polls, on a read-only
/// connection of its own (opened at the first look, closed when the feed ends), every
/// ``SQLiteStore/Configuration/changePollInterval``: one cheap pragma, which reads the WAL
/// index and touches no table. The feed cannot tell what changed, nor whose commit it was
/// (this store's own writer is another connection too), so every change is
/// ``StoreChange/unknown``; this process's commits are announced by the event bus as well.
///
/// A private in-memory database has no other connection that could change it: its feed
/// ends at once.
extension SQLiteStore: StoreChangeFeed {
    public func changes() -> AsyncStream<StoreChange> {
        changes(pollInterval: configuration.changePollInterval)
    }

    /// The changes, looked for every `pollInterval`. See ``changes()``.
    ///
    /// The polling runs in the consumer's own task, inside each `next()`, rather than in a
    /// task of its own: the feed does nothing while nobody waits on it, and ends (closing its
    /// connection) when the consumer's task is cancelled or the stream is dropped.
    public func changes(pollInterval: Duration) -> AsyncStream<StoreChange> {
        guard let path = configuration.path else {
            return AsyncStream { $0.finish() }
        }
        let poller = SQLiteDataVersionPoller(label: "stepwise.sqlite.\(path).changes", path: path, busyTimeout: configuration.busyTimeout)
        return AsyncStream(unfolding: { await poller.next(every: pollInterval) })
    }
}

/// The connection of one change feed, and its last `data_version`.
///
/// `@unchecked Sendable` is safe: `connection`, `version` and `hasLooked` are read and written only in
/// blocks running on the serial `queue` (and in `deinit`, when no block can be left, since each
/// holds `self`), so no two threads touch them at once; and SQLite calls, which block (opening,
/// the pragma while another process holds a lock), never run on the cooperative pool.
final class SQLiteDataVersionPoller: @unchecked Sendable {
    private let queue: DispatchQueue
    private let path: String
    private let busyTimeout: Duration
    private var connection: SQLiteConnection?
    private var version: Int64?
    /// Whether `next` was called before: every look after the first waits its interval.
    private var hasLooked = false

    init(label: String, path: String, busyTimeout: Duration) {
        self.queue = DispatchQueue(label: label)
        self.path = path
        self.busyTimeout = busyTimeout
    }

    /// The next change: at once on the first look (what happened before it is not known),
    /// then after the first look, every `interval`, that finds a new version. `nil` when the
    /// task is cancelled, which closes the connection.
    func next(every interval: Duration) async -> StoreChange? {
        var first = await isFirstLook()
        while true {
            if !first {
                do { try await Task.sleep(for: interval) } catch {
                    await close()
                    return nil
                }
            }
            first = false
            do {
                if try await look() { return .unknown }
            } catch {
                // The feed cannot see: it must not say that nothing changed. It opens a new
                // connection at the next look.
                await close()
                return .unknown
            }
        }
    }

    private func isFirstLook() async -> Bool {
        await onQueue {
            defer { self.hasLooked = true }
            return !self.hasLooked
        }
    }

    /// Whether the version differs from the last look (or there was none).
    private func look() async throws -> Bool {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
            queue.async {
                continuation.resume(with: Result { try self.lookOnQueue() })
            }
        }
    }

    private func lookOnQueue() throws -> Bool {
        let connection: SQLiteConnection
        if let open = self.connection {
            connection = open
        } else {
            connection = try SQLiteConnection(path: path, readOnly: true)
            connection.setBusyTimeout(milliseconds: Int32(clamping: busyTimeout.milliseconds))
            self.connection = connection
            version = nil
        }
        let current = try connection.scalarInteger("PRAGMA data_version")
        defer { version = current }
        return version == nil || current != version
    }

    private func close() async {
        await onQueue {
            self.connection = nil
            self.version = nil
        }
    }

    private func onQueue<Value: Sendable>(_ body: @escaping @Sendable () -> Value) async -> Value {
        await withCheckedContinuation { (continuation: CheckedContinuation<Value, Never>) in
            queue.async { continuation.resume(returning: body()) }
        }
    }
}
