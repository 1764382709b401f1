import ArgumentParser
import StepwisePostgres

/// `stepwise postgres-schema`: the SQL that creates (or brings up to date) Stepwise's schema in
/// a PostgreSQL database, for teams that apply migrations with a tool of their own rather than
/// letting the store migrate when it starts. It is what the store's `run()` executes, in one
/// transaction, under its advisory lock.
struct PostgresSchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postgres-schema",
        abstract: "Print the SQL of Stepwise's PostgreSQL schema, for a migration tool of your own.")

    @Option(help: "The schema the tables go in, as PostgresStore's `schema` setting.")
    var schema = "stepwise"

    @Option(help: "The version the database is at now (0 for none): only the later migrations are printed.")
    var from = 0

    func validate() throws {
        guard !schema.isEmpty else { throw ValidationError("the schema name is empty") }
        guard (0...PostgresMigrations.latestVersion).contains(from) else {
            throw ValidationError("--from must be 0 to \(PostgresMigrations.latestVersion), the versions this build knows")
        }
    }

    func run() {
        print("-- Stepwise PostgreSQL schema, version \(from) to \(PostgresMigrations.latestVersion). Apply in one transaction.")
        print(PostgresMigrations.sql(schema: schema, from: from))
    }
}
