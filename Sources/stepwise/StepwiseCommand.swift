import ArgumentParser

/// `stepwise`: serves the Event API and the REST API over a database file or a PostgreSQL
/// database, and sends, lists and shows events, runs and functions, against either or a
/// running server.
@main
struct StepwiseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stepwise",
        abstract: "Serve Stepwise's Event API and REST API, and look at events and runs.",
        discussion: """
            Commands that read or change events and runs work on a database file (--db, by default the \
            development server's ./.stepwise/dev.db), on a PostgreSQL database (--postgres URL, or \
            $STEPWISE_POSTGRES_URL when no option names a store), or on a running server (--url).
            """,
        subcommands: [
            DevCommand.self, ServeCommand.self, SendCommand.self, EventsCommand.self, RunsCommand.self, FunctionsCommand.self,
            PostgresSchemaCommand.self, PruneCommand.self, KeysCommand.self,
        ])
}
