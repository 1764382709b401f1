#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Which stored events to list: by name and by the time they were received, newest first,
/// a page at a time.
public struct EventQuery: Sendable, Hashable {
    public var environment: String
    /// Only events of this exact name; all names when `nil`.
    public var name: String?
    /// Only events received at or after this time, in milliseconds since the epoch: what a
    /// store compares (users set ``sinceDate``).
    package var since: Int64?
    /// Only events received before this time, in milliseconds since the epoch (users set
    /// ``untilDate``).
    package var until: Int64?
    /// How many events a page holds, 1 to ``maximumLimit``.
    public var limit: Int
    /// Where the page starts: the ``EventPage/nextCursor`` of the page before.
    public var cursor: EventCursor?

    public static let maximumLimit = 1000

    /// Only events received at or after this date; `nil` for no lower bound. Kept to the
    /// millisecond, as events' receive times are.
    public var sinceDate: Date? {
        get { since.map(Date.init(milliseconds:)) }
        set { since = newValue?.millisecondsSinceEpoch }
    }

    /// Only events received before this date; `nil` for no upper bound.
    public var untilDate: Date? {
        get { until.map(Date.init(milliseconds:)) }
        set { until = newValue?.millisecondsSinceEpoch }
    }

    /// A query for events received in `[since, until)`, newest first.
    public init(
        environment: String = "default", name: String? = nil, since: Date? = nil,
        until: Date? = nil, limit: Int = 50, cursor: EventCursor? = nil
    ) {
        self.init(
            environment: environment, name: name, since: since?.millisecondsSinceEpoch, until: until?.millisecondsSinceEpoch,
            limit: limit, cursor: cursor)
    }

    /// A query with its bounds in milliseconds since the epoch, as the REST API and the CLI
    /// receive them. Both bounds are given (`nil` for none), so that a call with neither is
    /// not ambiguous with the public initializer.
    package init(
        environment: String = "default", name: String? = nil, since: Int64?,
        until: Int64?, limit: Int = 50, cursor: EventCursor? = nil
    ) {
        self.environment = environment
        self.name = name
        self.since = since
        self.until = until
        self.limit = limit
        self.cursor = cursor
    }
}

/// One page of events, newest first.
public struct EventPage: Sendable, Hashable {
    public let events: [StoredEvent]
    /// The cursor of the next (older) page, or `nil` when this page is the last.
    public let nextCursor: EventCursor?
    /// The rows of this page that could not be read, left out of `events` (they count
    /// towards the page's limit, so that paging goes past them).
    public let unreadable: [UnreadableRecord]

    /// A page as a store answers it; `unreadable` is empty unless a row could not be read.
    public init(events: [StoredEvent], nextCursor: EventCursor?, unreadable: [UnreadableRecord] = []) {
        self.events = events
        self.nextCursor = nextCursor
        self.unreadable = unreadable
    }
}

/// A position in a listing of events: the receive time and id of the last event of a page.
///
/// Its text form (`rawValue`) is opaque to callers and safe to pass through a URL.
public struct EventCursor: Sendable, Hashable, RawRepresentable, Codable, CustomStringConvertible {
    public let receivedAt: Int64
    public let eventID: EventID

    public init(receivedAt: Int64, eventID: EventID) {
        self.receivedAt = receivedAt
        self.eventID = eventID
    }

    public init?(rawValue: String) {
        let parts = rawValue.split(separator: "-", maxSplits: 1)
        guard parts.count == 2, let receivedAt = Int64(parts[0]), let id = EventID(parts[1]) else { return nil }
        self.init(receivedAt: receivedAt, eventID: id)
    }

    public var rawValue: String { "\(receivedAt)-\(eventID)" }
    public var description: String { rawValue }
}

/// Why a query was refused.
public struct EventQueryError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
}

extension EventQuery {
    /// The query, if a store can answer it: every store refuses the same queries with the same
    /// error, so this check is the engine's, public for stores outside this module.
    ///
    /// - Throws: ``EventQueryError`` when `limit` is outside 1 to ``maximumLimit`` or `since`
    ///   is after `until`.
    public func validated() throws(EventQueryError) -> EventQuery {
        guard (1...Self.maximumLimit).contains(limit) else {
            throw EventQueryError(description: "limit must be between 1 and \(Self.maximumLimit), not \(limit)")
        }
        if let since, let until, since > until {
            throw EventQueryError(description: "since (\(since)) is after until (\(until))")
        }
        return self
    }
}
