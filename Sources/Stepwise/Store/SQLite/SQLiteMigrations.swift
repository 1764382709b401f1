/// The schema of a Stepwise SQLite database, as numbered migrations.
///
/// The database's `user_version` holds how many have been applied. Opening a database
/// applies the missing ones in one `BEGIN IMMEDIATE` transaction, re-reading the version
/// inside it, so two processes opening a new file at once migrate it once.
enum SQLiteMigrations {
    static let all: [String] = [
        // 1: events, and the dedupe keys of the events accepted with one.
        """
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            environment TEXT NOT NULL,
            name TEXT NOT NULL,
            data TEXT NOT NULL,
            user TEXT,
            dedupe_id TEXT,
            ts INTEGER NOT NULL,
            v TEXT,
            received_at INTEGER NOT NULL
        );
        CREATE INDEX events_by_received ON events (environment, received_at, id);
        CREATE INDEX events_by_name ON events (environment, name, received_at, id);
        CREATE TABLE event_dedupe (
            environment TEXT NOT NULL,
            dedupe_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            accepted_at INTEGER NOT NULL,
            PRIMARY KEY (environment, dedupe_id)
        ) WITHOUT ROWID;
        """,
    ]

    static var latestVersion: Int { all.count }

    static func migrate(_ connection: SQLiteConnection) throws {
        try connection.execute("BEGIN IMMEDIATE")
        do {
            let version = Int(try connection.scalarInteger("PRAGMA user_version") ?? 0)
            guard version <= latestVersion else {
                throw SQLiteStoreError.schemaTooNew(found: version, known: latestVersion)
            }
            for migration in all[version...] {
                try connection.execute(migration)
            }
            if version < latestVersion {
                try connection.execute("PRAGMA user_version = \(latestVersion)")
            }
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }
}
