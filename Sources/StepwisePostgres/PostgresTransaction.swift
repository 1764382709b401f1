import Logging
import PostgresNIO
import Stepwise
import Synchronization

/// One transaction on one pooled connection: what every requirement of the store runs in.
///
/// postgres-nio runs one statement per round trip, so a body says what it needs in as few
/// statements as it can; the transaction itself costs a `BEGIN` and a `COMMIT`.
struct PostgresTransaction: Sendable {
    let connection: PostgresConnection
    let logger: Logger
    let watch: PostgresConnectionWatch

    /// Refuses to send a statement on a connection that has closed: postgres-nio 1.33.2 hands
    /// the statement to the channel with no promise (`channel.write(…, promise: nil)` in
    /// `PostgresConnection.query`), and on a channel closed and torn down that write is
    /// dropped, so the query never completes and the call hangs for ever, holding the
    /// caller's slot. Seen when the server restarted: a statement failed as its connection
    /// dropped, and the `ROLLBACK` after it hung. Nothing was sent, so nothing of the
    /// transaction committed: transient, even in place of a `COMMIT`.
    func ensureOpen() throws {
        if connection.isClosed {
            throw PostgresStoreError.transactionFailed(reason: "the connection to the server had closed before the statement was sent")
        }
    }

    /// Runs a statement and collects its rows, failing it when its connection closes while it
    /// waits ("the statement was sent, the connection closed") rather than waiting for ever
    /// for an answer a dropped write will never bring: the window the check above leaves,
    /// between it and the write, closed by ``PostgresConnectionWatch``.
    @discardableResult
    func run(_ query: PostgresQuery) async throws -> PostgresQueryResult {
        try ensureOpen()
        let promise = connection.eventLoop.makePromise(of: PostgresQueryResult.self)
        let token = watch.add(promise, on: connection)
        defer { watch.remove(token, on: connection) }
        // Closed since the check, and its watcher already run: fail now, or never.
        if connection.isClosed { promise.fail(PostgresConnectionClosed()) }
        connection.query(query, logger: logger).cascade(to: promise)
        return try await promise.futureResult.get()
    }

    /// The rows a statement returns, read whole: every statement here returns few.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await run(query).rows.map { $0.makeRandomAccess() }
    }

    /// The first row a statement returns, if any.
    func row(_ query: PostgresQuery) async throws -> PostgresRandomAccessRow? {
        try await rows(query).first
    }

    /// Runs a statement; returns how many rows it inserted, updated or deleted.
    @discardableResult
    func execute(_ query: PostgresQuery) async throws -> Int {
        try await run(query).metadata.rows ?? 0
    }
}

/// The connection closed while a statement waited for its answer: whether the server got it
/// is unknown (a `COMMIT`'s outcome too).
struct PostgresConnectionClosed: Error {}

/// The statements waiting on each connection, failed together when it closes: one close
/// callback per connection, registered once, rather than one per statement, which a
/// connection serving millions of statements would pile up until it closed.
final class PostgresConnectionWatch: Sendable {
    private struct Entry {
        var next = 0
        var waiting: [Int: EventLoopPromise<PostgresQueryResult>] = [:]
    }
    private let entries = Mutex<[PostgresConnection.ID: Entry]>([:])

    /// Adds a waiting statement's promise; returns the token that removes it.
    func add(_ promise: EventLoopPromise<PostgresQueryResult>, on connection: PostgresConnection) -> Int {
        let (token, isNew) = entries.withLock { entries -> (Int, Bool) in
            let isNew = entries[connection.id] == nil
            var entry = entries[connection.id] ?? Entry()
            let token = entry.next
            entry.next += 1
            entry.waiting[token] = promise
            entries[connection.id] = entry
            return (token, isNew)
        }
        if isNew {
            let id = connection.id
            connection.closeFuture.whenComplete { [weak self] _ in
                let waiting = self?.entries.withLock { $0.removeValue(forKey: id) }?.waiting.values ?? [:].values
                for promise in waiting { promise.fail(PostgresConnectionClosed()) }
            }
        }
        return token
    }

    func remove(_ token: Int, on connection: PostgresConnection) {
        entries.withLock { entries in
            _ = entries[connection.id]?.waiting.removeValue(forKey: token)
        }
    }
}

extension PostgresStore {
    /// Runs `body` as one transaction (READ COMMITTED, PostgreSQL's default), and maps what
    /// fails onto the store's vocabulary: a failure before `COMMIT` was sent stored nothing
    /// and is transient when it may pass (a lost connection, a serialization failure, a
    /// deadlock); a lost connection during `COMMIT` is an unknown outcome, never transient
    /// (``StoreFailureKind/transient`` says why). The engine's own errors (``LeaseLostError``,
    /// ``RerunError``, ``EventIDSeedConflict``) roll back and pass through as they are.
    func transaction<Result: Sendable>(_ body: (PostgresTransaction) async throws -> Result) async throws -> Result {
        try ensureRunning()
        let logger = self.logger
        do {
            return try await client.withConnection { connection in
                let transaction = PostgresTransaction(connection: connection, logger: logger, watch: watch)
                do {
                    try await transaction.execute("BEGIN")
                } catch {
                    throw Self.failure(error, committing: false)
                }
                let result: Result
                do {
                    result = try await body(transaction)
                } catch {
                    _ = try? await transaction.execute("ROLLBACK")
                    throw Self.failure(error, committing: false)
                }
                do {
                    try await transaction.execute("COMMIT")
                } catch {
                    throw Self.failure(error, committing: true)
                }
                return result
            }
        } catch let error as PSQLError {
            // Leasing a connection failed: the pool could not connect, or closed.
            throw Self.failure(error, committing: false)
        }
    }

    /// A read outside a transaction block: one statement is its own transaction.
    func read<Result: Sendable>(_ body: (PostgresTransaction) async throws -> Result) async throws -> Result {
        try ensureRunning()
        let logger = self.logger
        do {
            return try await client.withConnection { connection in
                try await body(PostgresTransaction(connection: connection, logger: logger, watch: watch))
            }
        } catch {
            throw Self.failure(error, committing: false)
        }
    }

    /// A write outside a transaction block: one statement, committed by the server as it
    /// ends. Its answer comes only after that commit, so a connection lost once the statement
    /// was sent leaves the outcome unknown (``PostgresStoreError/commitOutcomeUnknown(reason:)``),
    /// as a lost `COMMIT` does: retried as if nothing had been stored, a checkpoint's events
    /// were appended twice (the server-restart fault test). A failure before the statement was
    /// sent (no connection, one already closed) stored nothing and stays transient.
    func autocommit<Result: Sendable>(_ body: (PostgresTransaction) async throws -> Result) async throws -> Result {
        try ensureRunning()
        let logger = self.logger
        do {
            return try await client.withConnection { connection in
                let transaction = PostgresTransaction(connection: connection, logger: logger, watch: watch)
                try transaction.ensureOpen()
                do {
                    return try await body(transaction)
                } catch {
                    throw Self.failure(error, committing: true)
                }
            }
        } catch let error as PostgresStoreError {
            throw error
        } catch {
            throw Self.failure(error, committing: false)
        }
    }

    /// The error a caller sees for `error`, thrown before (`committing == false`) or during
    /// the `COMMIT`.
    static func failure(_ error: any Error, committing: Bool) -> any Error {
        if error is PostgresConnectionClosed {
            let reason = "the connection to the server closed while a statement waited for its answer"
            return committing ? PostgresStoreError.commitOutcomeUnknown(reason: reason) : PostgresStoreError.transactionFailed(reason: reason)
        }
        guard let error = error as? PSQLError else { return error }
        let reason = PostgresStoreError.reason(error)
        if let state = PostgresStoreError.sqlState(error) {
            // The server answered, so it knows the outcome: an error at COMMIT rolled back.
            return PostgresStoreError.isRetryable(sqlState: state)
                ? PostgresStoreError.transactionFailed(reason: reason) : PostgresStoreError.statementFailed(reason: reason)
        }
        if committing { return PostgresStoreError.commitOutcomeUnknown(reason: reason) }
        switch error.code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed, .queryCancelled:
            return PostgresStoreError.transactionFailed(reason: reason)
        default:
            return PostgresStoreError.statementFailed(reason: reason)
        }
    }
}
