public import Stepwise
import PostgresNIO

/// What went wrong in the PostgreSQL store, in words that name the server, the record or the
/// setting at fault.
public enum PostgresStoreError: Error, Sendable, CustomStringConvertible {
    /// The configuration cannot describe a server or a store.
    case invalidConfiguration(String)
    /// The server could not be reached, or refused the login, when the store started.
    case unreachable(server: String, reason: String)
    /// The database was migrated by a newer Stepwise than this build.
    case schemaTooNew(found: Int, known: Int)
    /// The store's `run()` ended: it serves no more requests.
    case stopped(reason: String)
    /// A transaction failed before its `COMMIT` was sent: nothing of it was stored, and the
    /// call may be retried (a connection dropped, a serialization failure, a deadlock, the
    /// server restarting).
    case transactionFailed(reason: String)
    /// The connection failed while the `COMMIT` was in flight: the transaction may or may
    /// not have committed, so the call must not be retried as if it had not.
    case commitOutcomeUnknown(reason: String)
    /// The server refused a statement for a reason retrying cannot change.
    case statementFailed(reason: String)
    /// A row that Stepwise did not write, or that changed behind its back.
    case corruptRow(table: String, reason: String)
    /// The engine asked for something the contract does not allow.
    case invalidCheckpoint(reason: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let reason): "invalid PostgreSQL store configuration: \(reason)"
        case .unreachable(let server, let reason): "the PostgreSQL server at \(server) cannot be reached: \(reason)"
        case .schemaTooNew(let found, let known):
            "the Stepwise schema in this database is version \(found), newer than the \(known) this build knows: upgrade Stepwise"
        case .stopped(let reason): "the PostgreSQL store is not running: \(reason)"
        case .transactionFailed(let reason): "a PostgreSQL transaction failed and stored nothing: \(reason)"
        case .commitOutcomeUnknown(let reason): "a PostgreSQL commit may or may not have happened: \(reason)"
        case .statementFailed(let reason): "PostgreSQL refused a statement: \(reason)"
        case .corruptRow(let table, let reason): "a row of \(table) cannot be read: \(reason)"
        case .invalidCheckpoint(let reason): "invalid checkpoint: \(reason)"
        }
    }

    /// The error for a failure while starting: a server that cannot be reached is named.
    init(startingWith error: any Error, configuration: PostgresStore.Configuration) {
        if let error = error as? PostgresStoreError {
            switch error {
            case .transactionFailed(let reason), .commitOutcomeUnknown(let reason):
                self = .unreachable(server: configuration.serverDescription, reason: reason)
            default:
                self = error
            }
            return
        }
        self = .unreachable(server: configuration.serverDescription, reason: Self.reason(error))
    }

    /// A PostgreSQL error in one line: the server's message and SQLSTATE when it sent one.
    static func reason(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let info = error.serverInfo {
                let state = info[.sqlState] ?? "?"
                let message = info[.message] ?? "no message"
                return "\(message) (SQLSTATE \(state))"
            }
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }

    /// The SQLSTATE of a server error, if it is one.
    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// Whether a server error means the transaction was rolled back for a reason that may pass:
    /// serialization_failure, deadlock_detected, a connection exception (class 08), the
    /// server shutting down or starting (57P01–57P03), too many connections (53300).
    static func isRetryable(sqlState: String) -> Bool {
        sqlState == "40001" || sqlState == "40P01" || sqlState.hasPrefix("08") || sqlState == "57P01" || sqlState == "57P02"
            || sqlState == "57P03" || sqlState == "53300"
    }
}

extension PostgresStoreError: StoreFailure {
    public var storeFailureKind: StoreFailureKind {
        switch self {
        case .transactionFailed: .transient
        case .corruptRow: .unreadableRecord
        case .invalidConfiguration, .unreachable, .schemaTooNew, .stopped, .commitOutcomeUnknown, .statementFailed, .invalidCheckpoint:
            .permanent
        }
    }
}
