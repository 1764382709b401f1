/// A stored row that a read could not turn into a record: its JSON does not parse, or nests
/// deeper than ``JSON/maximumNestingDepth``. Only something other than Stepwise writing to
/// the store makes one; a listing reports it here and goes on with the rest, so that one bad
/// row never hides the others (DESIGN.md, invariant 7).
public struct UnreadableRecord: Sendable, Hashable, CustomStringConvertible {
    /// The kind of record: `"event"`, `"run"` or `"step"`.
    public let kind: String
    /// The record's id as stored.
    public let id: String
    /// Why it could not be read.
    public let reason: String

    /// Made by a store's read; public so that stores outside this module can report one.
    public init(kind: String, id: String, reason: String) {
        self.kind = kind
        self.id = id
        self.reason = reason
    }

    /// The record and the reason, in words, for logs and the CLI.
    public var description: String { "\(kind) \(id) could not be read: \(reason)" }
}
