import CSQLite
import Dispatch

/// Commits by other processes on the same file, seen through `PRAGMA data_version`: "The
/// integer values returned by two invocations of "PRAGMA data_version" from the same
/// connection will be different if changes were committed to the database by any other
/// connection in the interim" (sqlite.org/pragma.html#pragma_data_version).
///
/// SQLite has no notifications across processes, so each feed polls, on a read-only
/// connection of its own (closed when the feed ends), every
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
    public func changes(pollInterval: Duration) -> AsyncStream<StoreChange> {
        let (stream, continuation) = AsyncStream.makeStream(of: StoreChange.self, bufferingPolicy: .bufferingNewest(1))
        guard let path = configuration.path else {
            continuation.finish()
            return stream
        }
        let poller = SQLiteDataVersionPoller(label: "stepwise.sqlite.\(path).changes", path: path, busyTimeout: configuration.busyTimeout)
        let task = Task {
            await poller.watch(every: pollInterval, into: continuation)
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}

/// The connection of one change feed, and its last `data_version`.
///
/// `@unchecked Sendable` is safe: `connection` and `version` are read and written only in
/// blocks running on the serial `queue`, so no two threads touch them at once, and SQLite
/// calls (which block: opening, and the pragma while another process checkpoints) never run
/// on the cooperative pool.
final class SQLiteDataVersionPoller: @unchecked Sendable {
    private let queue: DispatchQueue
    private let path: String
    private let busyTimeout: Duration
    private var connection: SQLiteConnection?
    private var version: Int64?

    init(label: String, path: String, busyTimeout: Duration) {
        self.queue = DispatchQueue(label: label)
        self.path = path
        self.busyTimeout = busyTimeout
    }

    /// Yields a change at the first look (what happened before it is not known), then one for
    /// each look that finds a new version, until the task is cancelled; then closes the
    /// connection and finishes the stream.
    func watch(every interval: Duration, into continuation: AsyncStream<StoreChange>.Continuation) async {
        while !Task.isCancelled {
            let changed: Bool
            do {
                changed = try await look()
            } catch {
                // The feed cannot see: it must not say that nothing changed. It opens a new
                // connection at the next look.
                await close()
                changed = true
            }
            if changed { continuation.yield(.unknown) }
            do { try await Task.sleep(for: interval) } catch { break }
        }
        await close()
        continuation.finish()
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
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                self.connection = nil
                self.version = nil
                continuation.resume()
            }
        }
    }
}
