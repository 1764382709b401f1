#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The event a function declared with `eventData:` receives: the stored event, with its
/// `data` already decoded as the function's own type.
///
/// ```swift
/// struct CartCompleted: Codable, Sendable { var cartId: String }
///
/// try stepwise.createFunction(id: "send-receipt", trigger: .event("storefront/cart.checkout.completed"),
///                             eventData: CartCompleted.self) { event, step in
///     event.data.cartId
/// }
/// ```
///
/// The data is decoded once, before the function's code runs; data that does not decode
/// fails the run at once, without retries (the same bytes would fail again), with an error
/// that names the field.
public struct TypedEvent<Payload: Codable & Sendable>: Sendable {
    /// The event's data, decoded.
    public let data: Payload
    /// The event as stored, for what this type does not repeat (its environment, dedupe key,
    /// raw `data`).
    public let stored: StoredEvent

    /// A typed view of `stored` whose data decoded as `data`; the engine makes these, a test
    /// may too.
    public init(data: Payload, stored: StoredEvent) {
        self.data = data
        self.stored = stored
    }

    /// The id Stepwise gave the event (a ULID).
    public var id: EventID { stored.id }
    /// The event's name, which matched the function's trigger.
    public var name: String { stored.name }
    /// The user the event concerns, as sent (not decoded: it is the sender's, not the function's).
    public var user: JSON? { stored.user }
    /// When the event happened (its `ts`).
    public var timestamp: Date { stored.timestamp }
    /// The version of the payload's shape, if the sender gave one: check it before trusting
    /// `data` when a payload's shape changed while events of both shapes were in flight.
    public var v: String? { stored.v }
}

extension TypedEvent {
    /// Decodes `event`'s data as `Payload`, or throws the error that fails the run.
    ///
    /// - Throws: ``NonRetriableError`` naming the field that did not decode (the decoding
    ///   error's coding path, such as `data.items[2].sku`).
    static func decoding(_ event: StoredEvent, dates: JSONDateEncoding) throws(NonRetriableError) -> TypedEvent<Payload> {
        if let json = event.data as? Payload { return TypedEvent(data: json, stored: event) }
        do {
            return TypedEvent(data: try JSONValueDecoder(dates: dates).decode(Payload.self, from: event.data), stored: event)
        } catch let error as DecodingError {
            let (path, reason) = Self.field(of: error)
            throw NonRetriableError(
                "the data of event '\(event.name)' (\(event.id)) does not decode as \(Payload.self): field \(path): \(reason)")
        } catch {
            throw NonRetriableError("the data of event '\(event.name)' (\(event.id)) does not decode as \(Payload.self)", cause: error)
        }
    }

    /// Where in the event a decoding error happened, written the way a condition or a `match`
    /// path names it (`data.items[2].sku`), and why.
    static func field(of error: DecodingError) -> (path: String, reason: String) {
        let keys: [any CodingKey]
        let reason: String
        switch error {
        case .keyNotFound(let key, let context):
            keys = context.codingPath + [key]
            reason = "missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            keys = context.codingPath
            reason = context.debugDescription
        @unknown default:
            keys = []
            reason = "\(error)"
        }
        var path = "data"
        for key in keys {
            if key is JSONValueEncoder.IndexKey, let index = key.intValue {
                path += "[\(index)]"
            } else {
                path += ".\(key.stringValue)"
            }
        }
        return (path, reason)
    }
}
