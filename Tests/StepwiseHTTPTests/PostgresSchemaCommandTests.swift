import Foundation
import StepwisePostgres
import Testing

@Suite("stepwise postgres-schema")
struct PostgresSchemaCommandTests {
    @Test("prints the store's own migrations for the schema named, from the version given")
    func printsTheMigrations() throws {
        let all = try runCommand(stepwiseTool, ["postgres-schema", "--schema", "shop jobs"])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(all.stdout.contains(#"CREATE SCHEMA IF NOT EXISTS "shop jobs";"#))
        #expect(all.stdout.contains(#"CREATE TABLE "shop jobs".runs"#))
        #expect(all.stdout.contains("VALUES (\(PostgresMigrations.latestVersion))"))
        #expect(all.stdout.contains(PostgresMigrations.sql(schema: "shop jobs")))

        let none = try runCommand(stepwiseTool, ["postgres-schema", "--from", "\(PostgresMigrations.latestVersion)"])
        #expect(none.status == 0)
        #expect(!none.stdout.contains("CREATE TABLE \"stepwise\".runs"))

        let refused = try runCommand(stepwiseTool, ["postgres-schema", "--from", "\(PostgresMigrations.latestVersion + 1)"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--from must be 0 to \(PostgresMigrations.latestVersion)"))
    }
}
