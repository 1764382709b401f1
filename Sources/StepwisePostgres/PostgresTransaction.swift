import Logging
import PostgresNIO
import Stepwise

/// One transaction on one pooled connection: what every requirement of the store runs in.
///
/// postgres-nio runs one statement per round trip, so a body says what it needs in as few
/// statements as it can; the transaction itself costs a `BEGIN` and a `COMMIT`.
struct PostgresTransaction: Sendable {
    let connection: PostgresConnection
    let logger: Logger

    /// Refuses to send a statement on a connection that has closed: postgres-nio 1.33.2 hands
    /// the statement to the channel with no promise (`channel.write(…, promise: nil)` in
    /// `PostgresConnection.query`), and on a channel closed and torn down that write is
    /// dropped, so the query never completes and the call hangs for ever, holding the
    /// caller's slot. Seen when the server restarted: a statement failed as its connection
    /// dropped, and the `ROLLBACK` after it hung. Nothing was sent, so nothing of the
    /// transaction committed: transient, even in place of a `COMMIT`.
    ///
    /// A connection that closes between this check and the write can still hang (a window
    /// of microseconds, against the whole time a transaction waits between statements).
    func ensureOpen() throws {
        if connection.isClosed {
            throw PostgresStoreError.transactionFailed(reason: "the connection to the server had closed before the statement was sent")
        }
    }

    /// A statement's rows, as they come.
    @discardableResult
    func query(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        try ensureOpen()
        return try await connection.query(query, logger: logger)
    }

    /// The rows a statement returns, read whole: every statement here returns few.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        var rows: [PostgresRandomAccessRow] = []
        for try await row in try await self.query(query) {
            rows.append(row.makeRandomAccess())
        }
        return rows
    }

    /// The first row a statement returns, if any.
    func row(_ query: PostgresQuery) async throws -> PostgresRandomAccessRow? {
        try await rows(query).first
    }

    /// Runs a statement; returns how many rows it inserted, updated or deleted.
    @discardableResult
    func execute(_ query: PostgresQuery) async throws -> Int {
        try ensureOpen()
        let result = try await connection.query(query, logger: logger).get()
        return result.metadata.rows ?? 0
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
                let transaction = PostgresTransaction(connection: connection, logger: logger)
                do {
                    try await transaction.query("BEGIN")
                } catch {
                    throw Self.failure(error, committing: false)
                }
                let result: Result
                do {
                    result = try await body(transaction)
                } catch {
                    _ = try? await transaction.query("ROLLBACK")
                    throw Self.failure(error, committing: false)
                }
                do {
                    try await transaction.query("COMMIT")
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
                try await body(PostgresTransaction(connection: connection, logger: logger))
            }
        } catch {
            throw Self.failure(error, committing: false)
        }
    }

    /// The error a caller sees for `error`, thrown before (`committing == false`) or during
    /// the `COMMIT`.
    static func failure(_ error: any Error, committing: Bool) -> any Error {
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
