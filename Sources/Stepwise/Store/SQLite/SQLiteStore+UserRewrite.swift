/// ``StoreUserRewrite``: pages read on a reader, rewrites through the writer's queue, one
/// page per write.
extension SQLiteStore: StoreUserRewrite {
    public func storedUsers(environment: String, after: EventID?, limit: Int) async throws -> [StoredUser] {
        try await read { connection in
            var rows: [StoredUser] = []
            try connection.query(
                "SELECT id, user FROM events WHERE environment = ? AND id > ? AND user IS NOT NULL ORDER BY id LIMIT ?",
                [.text(environment), .text(after?.description ?? ""), .integer(Int64(limit))]
            ) { row in
                if let id = row.text(0).flatMap(EventID.init), let user = row.text(1) { rows.append(StoredUser(eventID: id, userText: user)) }
            }
            return rows
        }
    }

    public func rewriteUsers(_ rewrites: [UserRewrite], environment: String) async throws -> Int {
        try await writer.write { connection in
            var changed = 0
            for rewrite in rewrites {
                changed += try connection.run(
                    "UPDATE events SET user = ? WHERE id = ? AND environment = ? AND user = ?",
                    .text(rewrite.new), .text(rewrite.eventID.description), .text(environment), .text(rewrite.old))
            }
            return changed
        }
    }
}
