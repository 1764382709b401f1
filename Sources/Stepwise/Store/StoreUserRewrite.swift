/// A store that lets the engine rewrite events' `user` in place: what `stepwise keys rotate`
/// needs to re-encrypt stored rows with a new key, a page at a time, beside running workers.
///
/// A capability of its own beside ``Store``. The store never sees plaintext: it hands out the
/// stored `user` text, and swaps in the engine's new text only where the row still holds the
/// text the engine read (a compare-and-swap), so that a rewrite racing another never loses one.
public protocol StoreUserRewrite: Store {
    /// Up to `limit` events of `environment` that have a `user`, by id after `after` (from the
    /// first when `nil`): a read.
    func storedUsers(environment: String, after: EventID?, limit: Int) async throws -> [StoredUser]

    /// In one transaction, sets each event's `user` to ``UserRewrite/new`` where it is still
    /// ``UserRewrite/old``, byte for byte; others are left as they are.
    ///
    /// - Returns: how many rows were rewritten.
    ///
    /// Concurrent callers: of two rewrites of one row from the same old text, one succeeds; an
    /// append, claim or checkpoint waits for one page at most.
    func rewriteUsers(_ rewrites: [UserRewrite], environment: String) async throws -> Int
}

/// An event's `user` as stored: its JSON text (an envelope, when encrypted).
public struct StoredUser: Sendable, Hashable {
    public let eventID: EventID
    public let userText: String

    public init(eventID: EventID, userText: String) {
        self.eventID = eventID
        self.userText = userText
    }
}

/// One row's `user` to replace: the text read, and the text to store instead.
public struct UserRewrite: Sendable, Hashable {
    public let eventID: EventID
    public let old: String
    public let new: String

    public init(eventID: EventID, old: String, new: String) {
        self.eventID = eventID
        self.old = old
        self.new = new
    }
}
