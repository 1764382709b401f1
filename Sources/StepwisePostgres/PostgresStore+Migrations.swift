import Foundation
import PostgresNIO

extension PostgresStore {
    /// A key for `pg_advisory_xact_lock`, the same in every instance of every app: migrating
    /// any schema of the database is serialised, which costs nothing (it happens at start-up)
    /// and needs no agreement on a per-schema key.
    static let migrationLockKey: Int64 = 0x5354_4550_5749_5345  // "STEPWISE"

    /// Applies the pending migrations in one transaction under the advisory lock, re-reading
    /// the version once it holds the lock: of ten instances starting together, one migrates
    /// and nine find the version current.
    func migrate() async throws {
        let quoted = PostgresIdentifier.quoted(configuration.schema)
        let logger = self.logger
        try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLockKey))", logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(quoted)"), logger: logger)
                try await connection.query(
                    PostgresQuery(unsafeSQL: "CREATE TABLE IF NOT EXISTS \(quoted).schema_version (version integer NOT NULL)"),
                    logger: logger)
                var version = 0
                for try await row in try await connection.query(
                    PostgresQuery(unsafeSQL: "SELECT coalesce(max(version), 0) FROM \(quoted).schema_version"), logger: logger)
                {
                    version = Int(try row.decode(Int32.self))
                }
                guard version <= PostgresMigrations.latestVersion else {
                    throw PostgresStoreError.schemaTooNew(found: version, known: PostgresMigrations.latestVersion)
                }
                if version < PostgresMigrations.latestVersion {
                    for migration in PostgresMigrations.all[version...] {
                        for statement in PostgresMigrations.statements(of: migration, schema: quoted) {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                    }
                    try await connection.query(PostgresQuery(unsafeSQL: "DELETE FROM \(quoted).schema_version"), logger: logger)
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "INSERT INTO \(quoted).schema_version (version) VALUES (\(PostgresMigrations.latestVersion))"),
                        logger: logger)
                    logger.info(
                        "stepwise.postgres migrated",
                        metadata: ["schema": "\(self.configuration.schema)", "from": "\(version)", "to": "\(PostgresMigrations.latestVersion)"])
                }
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }
}

extension PostgresMigrations {
    /// A migration's statements, one by one (the extended query protocol takes one statement
    /// per query): each ends with a line that ends in `;`, outside a function's
    /// `$body$ … $body$`, whose own statements end lines too. Lines of comments alone are
    /// dropped.
    static func statements(of migration: String, schema quoted: String) -> [String] {
        var statements: [String] = []
        var current: [Substring] = []
        var inBody = false
        for line in migration.replacingOccurrences(of: "{schema}", with: quoted).split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if current.isEmpty && (trimmed.isEmpty || trimmed.hasPrefix("--")) { continue }
            current.append(line)
            if line.components(separatedBy: "$body$").count % 2 == 0 { inBody.toggle() }
            if !inBody, trimmed.hasSuffix(";") {
                var statement = current.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
                statement.removeLast()
                statements.append(statement)
                current = []
            }
        }
        let rest = current.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        if !rest.isEmpty { statements.append(rest) }
        return statements
    }
}
