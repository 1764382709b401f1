/// An event as Stepwise stored it: what was sent, plus the id it was given and when it
/// arrived. This is what look-ups, the event bus and (later) functions receive.
public struct StoredEvent: Sendable, Hashable, Identifiable {
    /// The id Stepwise gave the event when it accepted it (a ULID).
    public let id: EventID
    /// The environment the event belongs to (`default` unless said otherwise).
    public let environment: String
    public let name: String
    public let data: JSON
    public let user: JSON?
    /// The deduplication key the event was sent with, its `id` field on the wire.
    public let dedupeID: String?
    /// When the event happened, in milliseconds since the Unix epoch.
    public let ts: Int64
    /// The version of the payload's shape, if the sender gave one.
    public let v: String?
    /// When Stepwise accepted the event, in milliseconds since the Unix epoch.
    public let receivedAt: Int64

    public init(
        id: EventID, environment: String, name: String, data: JSON, user: JSON?,
        dedupeID: String?, ts: Int64, v: String?, receivedAt: Int64
    ) {
        self.id = id
        self.environment = environment
        self.name = name
        self.data = data
        self.user = user
        self.dedupeID = dedupeID
        self.ts = ts
        self.v = v
        self.receivedAt = receivedAt
    }

    /// The event's data decoded as a `Codable` type of your own.
    public func decodeData<Value: Decodable>(as type: Value.Type = Value.self) throws(JSONConversionError) -> Value {
        try data.decode(as: type)
    }
}
