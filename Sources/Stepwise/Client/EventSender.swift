/// Something that sends events: ``StepwiseClient`` stores them in-process, and
/// `HTTPEventSender` (module StepwiseHTTPClient) posts them to an Event API elsewhere. Code
/// that only sends can take `some EventSender` and run against either.
public protocol EventSender: Sendable {
    /// Sends a batch atomically: every event is accepted, or none is.
    ///
    /// - Returns: one id per event, in order; for a duplicate (its dedupe `id` seen within the
    ///   dedupe window), the id of the event first accepted with it.
    @discardableResult
    func send(_ events: [Event]) async throws -> [EventID]
}

extension EventSender {
    /// Sends one event; returns its id (or, for a duplicate, the first event's).
    @discardableResult
    public func send(_ event: Event) async throws -> EventID {
        let ids = try await send([event])
        guard let id = ids.first else { throw EventSenderError.noID }
        return id
    }
}

/// A sender answered a one-event send without an id.
public enum EventSenderError: Error, Sendable, Hashable, CustomStringConvertible {
    case noID

    /// The error in words.
    public var description: String { "the event was sent, but no id came back for it" }
}

extension StepwiseClient: EventSender {}
