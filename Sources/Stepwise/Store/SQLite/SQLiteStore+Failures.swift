import CSQLite

/// SQLite's result codes, in the engine's vocabulary.
///
/// Transient only where SQLite says the statement failed because of *other connections'*
/// activity, and where the writer is sure nothing of the call was stored: a failing `BEGIN
/// IMMEDIATE` began nothing, and any later failure makes the writer roll the write back (to
/// its savepoint, or the whole transaction), so that a retried commit cannot store anything
/// twice.
///
/// - `SQLITE_BUSY` (with `_RECOVERY`, `_SNAPSHOT`, `_TIMEOUT`): "the database file could not
///   be written (or in some cases read) because of concurrent activity by some other database
///   connection" (sqlite.org/rescode.html). Another process held the write lock past the busy
///   timeout; it lets go when its transaction ends. Even on `COMMIT`, "the transaction remains
///   active" and the writer rolls it back.
/// - `SQLITE_LOCKED`: "a write operation could not continue because of a conflict within the
///   same database connection or a conflict with a different database connection that uses a
///   shared cache": a conflict that ends with the other statement.
/// - `SQLITE_PROTOCOL`: in WAL mode, "a file lock is not obtained after retries": the same
///   contention, seen from the WAL index.
///
/// Permanent otherwise, and on purpose for the codes that could look temporary:
/// `SQLITE_IOERR`, `SQLITE_FULL` and `SQLITE_NOMEM` may fail a `COMMIT` halfway through
/// writing the WAL, where whether the transaction survives is for the next recovery to say,
/// not for a retry to guess; and they mean a disk or a host that needs an operator more often
/// than one that will be fine in 50 ms. `SQLITE_CORRUPT`, `SQLITE_NOTADB`, `SQLITE_CONSTRAINT`
/// (a bug in the caller: the engine never means to break one), `SQLITE_MISUSE` (a closed
/// store) and `SQLITE_READONLY` cannot pass by themselves.
extension SQLiteError: StoreFailure {
    public var storeFailureKind: StoreFailureKind {
        switch primaryCode {
        case SQLITE_BUSY, SQLITE_LOCKED, SQLITE_PROTOCOL: .transient
        default: .permanent
        }
    }
}

/// A row that cannot be read back is an unreadable record (so that a caller can leave it out);
/// every other case is permanent: a file that cannot be opened, a schema too new, a bad
/// checkpoint do not get better by waiting.
extension SQLiteStoreError: StoreFailure {
    public var storeFailureKind: StoreFailureKind {
        switch self {
        case .corruptRow: .unreadableRecord
        case .notThreadSafe, .cannotCreateFolder, .walUnavailable, .invalidCheckpoint, .schemaTooNew: .permanent
        }
    }
}
