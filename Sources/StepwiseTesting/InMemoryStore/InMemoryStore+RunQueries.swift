@_spi(StoreImplementation) public import Stepwise

/// Reads of runs, their steps and environments.
extension InMemoryStore {
    /// Looks the run up by id; a run of another environment is not there.
    public func run(id: RunID, environment: String) async throws -> RunRecord? {
        guard let run = tables.runs[id], ExactText.same(run.environment, environment) else { return nil }
        return run.record
    }

    /// Lists runs newest first (by id, which sorts as their creation does), older than
    /// `query.before`, 1 to 1000 at a time as SQLite clamps the limit.
    public func runs(_ query: RunQuery) async throws -> [RunRecord] {
        let environment = ExactText(query.environment)
        let functionID = query.functionID.map(ExactText.init)
        let limit = max(1, min(query.limit, 1000))
        return tables.runs.values.filter { run in
            ExactText(run.environment) == environment && (functionID.map { ExactText(run.functionID) == $0 } ?? true)
                && (query.status.map { run.status == $0 } ?? true) && (query.eventID.map { run.eventID == $0 } ?? true)
                && (query.before.map { run.id < $0 } ?? true)
        }.sorted { $0.id > $1.id }.prefix(limit).map(\.record)
    }

    /// The runs executing under a concurrency key, oldest first.
    public func runs(holdingConcurrencyKey identity: String, limit: Int) async throws -> [RunRecord] {
        (tables.runningByKey[ExactText(identity)] ?? []).compactMap { tables.runs[$0] }.sorted { $0.sequence < $1.sequence }
            .prefix(max(1, min(limit, 1000))).map(\.record)
    }

    /// A run's steps in the order they were first recorded.
    public func steps(runID: RunID) async throws -> [StepRecord] {
        tables.steps[runID] ?? []
    }

    /// Every attempt of a run's steps, by step in the order the steps were first recorded,
    /// then by number.
    public func attempts(runID: RunID) async throws -> [StepAttempt] {
        let order = Dictionary((tables.steps[runID] ?? []).enumerated().map { (ExactText($1.key), $0) }, uniquingKeysWith: { first, _ in first })
        return (tables.attempts[runID] ?? []).sorted { lhs, rhs in
            let left = order[ExactText(lhs.key)] ?? Int.max
            let right = order[ExactText(rhs.key)] ?? Int.max
            return left != right ? left < right : lhs.number < rhs.number
        }
    }

    /// Whether an app registered functions in `environment`, or events were stored in it.
    public func environmentExists(_ environment: String) async throws -> Bool {
        let environment = ExactText(environment)
        return (tables.eventCounts[environment] ?? 0) > 0 || tables.functions.keys.contains { $0.app.environment == environment }
    }

    /// Every environment with events or functions, sorted by the bytes of their names.
    public func environments() async throws -> [String] {
        var names = Set(tables.eventCounts.filter { $0.value > 0 }.map(\.key))
        for key in tables.functions.keys { names.insert(key.app.environment) }
        return names.sorted().map(\.string)
    }
}
