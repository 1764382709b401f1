import OrderedCollections

/// An event to send: something that happened in your app, which Stepwise stores and which
/// triggers every function that listens for its name.
///
/// The fields are those of Inngest's event payload, with the same meaning:
///
/// ```swift
/// try await stepwise.send(Event(
///     name: "storefront/cart.checkout.completed",
///     data: ["cartId": "ed12c8bde", "itemIds": ["9f08sdh84", "sdf098487"]],
///     id: "cart-checkout-completed-ed12c8bde"))
/// ```
///
/// `data` and `user` take a ``JSON`` value, written as a literal, or any `Codable` value
/// that encodes as a JSON object.
public struct Event: Sendable {
    /// The type of event, such as `billing/invoice.paid`: functions are triggered by it.
    /// Names starting with `stepwise/` or `inngest/` are reserved for system events.
    public var name: String

    /// What the event carries; must be a JSON object.
    public var data: EventPayload

    /// Data identifying the user the event concerns; must be a JSON object when present.
    public var user: EventPayload?

    /// A deduplication key: a later event with the same `id`, within the dedupe window
    /// (24 hours by default), is ignored and answered with the first event's id. Make it
    /// specific to the event type (`"cart-checkout-completed-ed12c8bde"`), since it is
    /// global across event names. An empty string means no key.
    public var id: String?

    /// When the event happened, in milliseconds since the Unix epoch; the time it is
    /// received when `nil`.
    public var ts: Int64?

    /// The version of the payload's shape, such as `"2024-01-14.1"`.
    public var v: String?

    /// An event whose data is a JSON value (a literal such as `["cartId": "ed12c8bde"]`).
    public init(
        name: String,
        data: JSON = .emptyObject,
        user: EventPayload? = nil,
        id: String? = nil,
        ts: Int64? = nil,
        v: String? = nil
    ) {
        self.name = name
        self.data = EventPayload(json: data)
        self.user = user
        self.id = id
        self.ts = ts
        self.v = v
    }

    /// An event whose data is a `Codable` value, encoded when the event is sent.
    ///
    /// Disfavoured, so that a dictionary literal (`["zeta": 1, "alpha": 2]`) is taken as
    /// ``JSON`` and keeps its keys' order and its numbers as written (`10.0`, `-0.0`),
    /// rather than as a `Dictionary`, which has no order.
    @_disfavoredOverload
    public init(
        name: String,
        data: some Encodable & Sendable,
        user: EventPayload? = nil,
        id: String? = nil,
        ts: Int64? = nil,
        v: String? = nil
    ) {
        self.name = name
        self.data = EventPayload(data)
        self.user = user
        self.id = id
        self.ts = ts
        self.v = v
    }
}

/// The `data` or `user` of an event: a ``JSON`` value, or a `Codable` value that is encoded
/// to JSON when the event is sent (so that an unencodable value is reported by `send`, with
/// the event's index, rather than trapping where the event is built).
public struct EventPayload: Sendable, ExpressibleByDictionaryLiteral {
    enum Storage: Sendable {
        case json(JSON)
        case encodable(any Encodable & Sendable)
    }

    let storage: Storage

    /// A payload that is already JSON.
    public init(json: JSON) {
        storage = .json(json)
    }

    /// A payload encoded from a `Codable` value when the event is sent.
    public init(_ value: some Encodable & Sendable) {
        if let json = value as? JSON {
            storage = .json(json)
        } else {
            storage = .encodable(value)
        }
    }

    public init(dictionaryLiteral elements: (String, JSON)...) {
        var members = JSON.Object(minimumCapacity: elements.count)
        for (key, value) in elements { members[JSON.Key(key)] = value }
        storage = .json(.object(members))
    }

    /// The payload as JSON, encoding it if it is a `Codable` value (with its dates as
    /// `dates` says).
    public func json(dates: JSONDateEncoding = .iso8601) throws(JSONConversionError) -> JSON {
        switch storage {
        case .json(let json): return json
        case .encodable(let value): return try JSON(encoding: value, dates: dates)
        }
    }
}
