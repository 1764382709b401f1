import CSQLite
import Foundation

/// The baseline: plain SQLite C-API inserts into a table with the same columns and indexes
/// as Stepwise's `events` table, with the same journal mode and durability. No validation,
/// no JSON work, no id generation (ids are made before the clock starts), no async hops.
final class RawSQLite {
    private let db: OpaquePointer
    private let insert: OpaquePointer

    init(path: String, synchronous: String) throws {
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK,
              let handle
        else { throw BenchError("could not open \(path)") }
        db = handle
        for sql in [
            "PRAGMA journal_mode=WAL", "PRAGMA synchronous=\(synchronous)",
            """
            CREATE TABLE events (
                seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, environment TEXT NOT NULL,
                name TEXT NOT NULL, data TEXT NOT NULL, user TEXT, dedupe_id TEXT, ts INTEGER NOT NULL,
                v TEXT, received_at INTEGER NOT NULL)
            """,
            "CREATE INDEX events_by_received ON events (environment, received_at, id)",
            "CREATE INDEX events_by_name ON events (environment, name, received_at, id)",
        ] {
            guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
                throw BenchError("baseline setup failed: \(String(cString: sqlite3_errmsg(db)))")
            }
        }
        var statement: OpaquePointer?
        let sql = "INSERT INTO events (id, environment, name, data, ts, received_at) VALUES (?, 'default', ?, ?, ?, ?)"
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw BenchError("baseline prepare failed")
        }
        insert = statement
    }

    deinit {
        sqlite3_finalize(insert)
        sqlite3_close_v2(db)
    }

    /// Inserts `rows` in transactions of `perTransaction` rows each.
    func insert(_ rows: [BenchRow], perTransaction: Int) throws {
        var index = 0
        while index < rows.count {
            sqlite3_exec(db, "BEGIN IMMEDIATE", nil, nil, nil)
            for row in rows[index..<min(index + perTransaction, rows.count)] {
                bind(row.id, at: 1)
                bind(row.name, at: 2)
                bind(row.data, at: 3)
                sqlite3_bind_int64(insert, 4, row.ts)
                sqlite3_bind_int64(insert, 5, row.ts)
                guard sqlite3_step(insert) == SQLITE_DONE else {
                    throw BenchError("baseline insert failed: \(String(cString: sqlite3_errmsg(db)))")
                }
                sqlite3_reset(insert)
            }
            guard sqlite3_exec(db, "COMMIT", nil, nil, nil) == SQLITE_OK else {
                throw BenchError("baseline commit failed: \(String(cString: sqlite3_errmsg(db)))")
            }
            index += perTransaction
        }
    }

    private func bind(_ text: String, at index: Int32) {
        var text = text
        text.withUTF8 { bytes in
            _ = bytes.withMemoryRebound(to: CChar.self) {
                sqlite3_bind_text(insert, index, $0.baseAddress, Int32($0.count), stepwise_sqlite_transient)
            }
        }
    }
}

/// A row as both sides write it.
struct BenchRow {
    let id: String
    let name: String
    let data: String
    let ts: Int64
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
