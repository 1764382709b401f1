import ArgumentParser

/// `stepwise-bench`: measures Stepwise against raw SQLite on the same machine, in the same
/// run, so that the ratio means something on a noisy machine whose fsync time swings.
@main
struct StepwiseBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stepwise-bench",
        abstract: "Benchmarks Stepwise against raw SQLite measured in the same run.",
        subcommands: [
            IngestCommand.self, StepsCommand.self, SleepersCommand.self, WaitCommand.self, HTTPCommand.self, HostileCommand.self,
            DashboardCommand.self, WakeWorkerCommand.self, FlowCommand.self,
        ]
    )
}

/// Options every workload takes.
struct CommonOptions: ParsableArguments {
    @Flag(help: "Print one JSON object per line instead of a table.")
    var json = false

    @Option(help: "SQLite durability for both Stepwise and the baseline: full or normal.")
    var durability: DurabilityOption = .full

    @Option(help: "Rounds per metric; the median of each side is reported.")
    var rounds = 3

    @Option(help: "Directory for the benchmark's database files (a fresh temporary one by default).")
    var directory: String?

    @Option(help: "The store measured: sqlite, or postgres (against raw postgres-nio commits to the same server).")
    var store: StoreOption = .sqlite

    @Option(help: "The PostgreSQL server for --store postgres; without it the bench starts a throwaway PostgreSQL 15 of its own.")
    var postgresURL: String?
}

enum StoreOption: String, ExpressibleByArgument, CaseIterable {
    case sqlite, postgres
}

enum DurabilityOption: String, ExpressibleByArgument, CaseIterable {
    case full, normal
}
