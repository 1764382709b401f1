import PostgresNIO
public import Stepwise

/// ``StoreUserRewrite``: a page read, then one guarded UPDATE for the page's rows.
extension PostgresStore: StoreUserRewrite {
    public func storedUsers(environment: String, after: EventID?, limit: Int) async throws -> [StoredUser] {
        let after = after?.description ?? ""
        let limit = Int64(limit)
        return try await read { transaction in
            try await transaction.rows(
                """
                SELECT id, "user" FROM events
                WHERE environment = \(environment) AND id > \(after) AND "user" IS NOT NULL ORDER BY id LIMIT \(limit)
                """
            ).compactMap { row in
                guard let id = try row.text(0).flatMap(EventID.init), let user = try row.text(1) else { return nil }
                return StoredUser(eventID: id, userText: user)
            }
        }
    }

    public func rewriteUsers(_ rewrites: [UserRewrite], environment: String) async throws -> Int {
        let ids = rewrites.map(\.eventID.description)
        let olds = rewrites.map(\.old)
        let news = rewrites.map(\.new)
        return try await transaction { transaction in
            try await transaction.execute(
                """
                UPDATE events AS e SET "user" = r.new
                FROM unnest(\(ids)::text[], \(olds)::text[], \(news)::text[]) AS r (id, old, new)
                WHERE e.id = r.id COLLATE "C" AND e.environment = \(environment) AND e."user" = r.old
                """)
        }
    }
}
