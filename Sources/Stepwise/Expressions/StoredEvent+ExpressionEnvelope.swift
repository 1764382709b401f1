extension StoredEvent {
    /// The event as expressions see it under `event` (and wait conditions under `async`):
    /// `id`, `name`, `data`, `user` (`null` when not given) and `ts` in milliseconds since the
    /// Unix epoch. Built in one place so that every process, and every control, reads the
    /// same fields.
    @_spi(StoreImplementation)
    public var expressionEnvelope: JSON {
        EventExpression.envelope(id: id.description, name: name, data: data, user: user, ts: ts)
    }
}

extension EventExpression {
    /// The envelope ``StoredEvent/expressionEnvelope`` builds, for an event not yet stored
    /// as one (its id given as text, or `nil` before it has one, which reads as `null`).
    @_spi(StoreImplementation)
    public static func envelope(id: String?, name: String, data: JSON, user: JSON?, ts: Int64) -> JSON {
        ["id": id.map(JSON.string) ?? .null, "name": .string(name), "data": data, "user": user ?? .null, "ts": .int(ts)]
    }
}
