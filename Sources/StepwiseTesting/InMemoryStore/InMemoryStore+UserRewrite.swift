@_spi(StoreImplementation) public import Stepwise

/// ``StoreUserRewrite`` over the tables, by scanning: the store is for tests.
extension InMemoryStore: StoreUserRewrite {
    public func storedUsers(environment: String, after: EventID?, limit: Int) async throws -> [StoredUser] {
        let environment = ExactText(environment)
        return tables.events.values
            .filter { row in
                ExactText(row.event.environment) == environment && row.userText != nil && (after.map { row.event.id > $0 } ?? true)
            }
            .sorted { $0.event.id < $1.event.id }
            .prefix(limit)
            .compactMap { row in row.userText.map { StoredUser(eventID: row.event.id, userText: $0) } }
    }

    public func rewriteUsers(_ rewrites: [UserRewrite], environment: String) async throws -> Int {
        let environment = ExactText(environment)
        return try write { transaction in
            var changed = 0
            for rewrite in rewrites {
                guard let row = transaction.tables.events[rewrite.eventID], ExactText(row.event.environment) == environment,
                      ExactText.same(row.userText, rewrite.old), let user = try? JSON(parsing: rewrite.new)
                else { continue }
                let event = row.event
                transaction.set(\.events, rewrite.eventID, to: EventRow(
                    event: StoredEvent(
                        id: event.id, environment: event.environment, name: event.name, data: event.data, user: user,
                        dedupeID: event.dedupeID, ts: event.ts, v: event.v, receivedAt: event.receivedAt,
                        traceContext: event.traceContext),
                    dataText: row.dataText, userText: rewrite.new))
                changed += 1
            }
            return changed
        }
    }
}
