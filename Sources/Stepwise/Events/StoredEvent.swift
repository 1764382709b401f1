import OrderedCollections

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
    /// When the event happened, in milliseconds since the Unix epoch, as stored and sent on
    /// the wire; ``timestamp`` is the same time as a `Date`.
    package let ts: Int64
    /// The version of the payload's shape, if the sender gave one.
    public let v: String?
    /// When Stepwise accepted the event, in milliseconds since the Unix epoch, as stored;
    /// ``receivedDate`` is the same time as a `Date`.
    package let receivedAt: Int64
    /// The trace of the code that sent the event, which the runs it triggers continue; `nil`
    /// when none was recording (see ``TraceContext``).
    public let traceContext: TraceContext?

    /// An event as a store reads it back, its times in milliseconds since the epoch as the
    /// store keeps them.
    public init(
        id: EventID, environment: String, name: String, data: JSON, user: JSON?,
        dedupeID: String?, ts: Int64, v: String?, receivedAt: Int64, traceContext: TraceContext? = nil
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
        self.traceContext = traceContext
    }

    /// The event's data decoded as a `Codable` type of your own, its dates read as `dates`
    /// says (give the client's ``StepwiseClient/Configuration/dateEncoding`` if it is not
    /// the default).
    public func decodeData<Value: Decodable>(
        as type: Value.Type = Value.self, dates: JSONDateEncoding = .iso8601
    ) throws(JSONConversionError) -> Value {
        try data.decode(as: type, dates: dates)
    }
}

extension StoredEvent {
    /// The event as a waiting step records it, and as `waitForEvent` decodes it back.
    static func encodedForStep(_ event: StoredEvent) -> JSON {
        var members: JSON.Object = [
            "id": .string(event.id.description), "environment": .string(event.environment), "name": .string(event.name),
            "data": event.data, "ts": .int(event.ts), "received_at": .int(event.receivedAt),
        ]
        if let user = event.user { members["user"] = user }
        if let dedupeID = event.dedupeID { members["dedupe_id"] = .string(dedupeID) }
        if let v = event.v { members["v"] = .string(v) }
        return .object(members)
    }

    /// The event a waiting step recorded, or `nil` for a recorded `null` (the wait timed out).
    static func decodedFromStep(_ json: JSON) -> StoredEvent? {
        guard let id = json["id"]?.stringValue.flatMap(EventID.init), let name = json["name"]?.stringValue else { return nil }
        return StoredEvent(
            id: id, environment: json["environment"]?.stringValue ?? "default", name: name, data: json["data"] ?? .emptyObject,
            user: json["user"], dedupeID: json["dedupe_id"]?.stringValue, ts: json["ts"]?.intValue ?? 0, v: json["v"]?.stringValue,
            receivedAt: json["received_at"]?.intValue ?? 0)
    }
}
