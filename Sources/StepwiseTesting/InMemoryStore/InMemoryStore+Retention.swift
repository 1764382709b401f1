@_spi(StoreImplementation) public import Stepwise

/// Retention (``StoreRetention``), by scanning the tables: the store is for tests, where they
/// are small. One batch is one transaction, as in every store.
extension InMemoryStore: StoreRetention {
    public func prune(_ request: PruneRequest) async throws -> PruneResult {
        let environment = ExactText(request.environment)
        return try write { transaction in
            var result = PruneResult()
            let ended = transaction.tables.runs.values
                .filter { ExactText($0.environment) == environment && $0.status.isFinal && ($0.endedAt ?? .max) < request.before }
                .sorted { ($0.endedAt ?? 0, $0.sequence) < ($1.endedAt ?? 0, $1.sequence) }
                .prefix(request.limit)
            for run in ended {
                result.steps += transaction.tables.steps[run.id]?.count ?? 0
                transaction.set(\.steps, run.id, to: nil)
                transaction.set(\.attempts, run.id, to: nil)
                transaction.removeWaits(runID: run.id)
                if run.rerunOf == nil {
                    let key = TriggeredRunKey(function: FunctionKey(run.environment, run.appID, run.functionID), eventID: run.eventID)
                    if transaction.tables.triggeredRuns[key] == run.id { transaction.set(\.triggeredRuns, key, to: nil) }
                }
                transaction.set(\.runs, run.id, to: nil)
                result.runs += 1
            }
            let needed = Set(transaction.tables.runs.values.flatMap(\.eventIDs))
            let events = transaction.tables.events.values
                .filter { ExactText($0.event.environment) == environment && $0.event.receivedAt < request.before && !needed.contains($0.event.id) }
                .sorted { ($0.event.receivedAt, $0.event.id) < ($1.event.receivedAt, $1.event.id) }
                .prefix(request.limit)
            for row in events {
                transaction.set(\.events, row.event.id, to: nil)
                // Why it started no run goes with it.
                transaction.set(\.admissions, AdmissionKey(environment: environment, eventID: row.event.id), to: nil)
                transaction.set(\.eventCounts, environment, to: max(0, (transaction.tables.eventCounts[environment] ?? 1) - 1))
                result.events += 1
            }
            let keys = transaction.tables.dedupe
                .filter { $0.key.environment == environment && $0.value.acceptedAt < request.dedupeBefore }
                .prefix(request.limit)
            for (key, _) in keys {
                transaction.set(\.dedupe, key, to: nil)
                result.dedupeKeys += 1
            }
            for (key, _) in transaction.tables.throttles.filter({ $0.value < request.beforeMicroseconds }).prefix(request.limit) {
                transaction.set(\.throttles, key, to: nil)
                result.throttleKeys += 1
            }
            return result
        }
    }

    public func sizes(environment: String) async throws -> StoreSizes {
        let environment = ExactText(environment)
        let runs = tables.runs.values.filter { ExactText($0.environment) == environment }
        return StoreSizes(
            events: tables.eventCounts[environment] ?? 0,
            runs: runs.count,
            steps: runs.reduce(0) { $0 + (tables.steps[$1.id]?.count ?? 0) },
            dedupeKeys: tables.dedupe.keys.count { $0.environment == environment },
            bytes: nil)
    }
}
