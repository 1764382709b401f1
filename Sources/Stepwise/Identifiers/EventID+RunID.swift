/// An id that is a ``ULID`` of one kind of record, so that an event's id cannot be passed
/// where a run's is expected (`cancelRun(eventID)` does not compile): both share the ULID's
/// text, order and time, and differ in type only.
public protocol ULIDIdentifier: Sendable, Hashable, Comparable, Codable, CustomStringConvertible, LosslessStringConvertible {
    /// The ULID the id is.
    var ulid: ULID { get }
    init(_ ulid: ULID)
}

extension ULIDIdentifier {
    /// Reads an id from its 26-character text; `nil` for anything else.
    public init?(_ text: some StringProtocol) {
        guard let ulid = ULID(text) else { return nil }
        self.init(ulid)
    }

    /// Reads an id from its 26-character text: a concrete overload, so that callers in other
    /// modules do not run the generic one unspecialized.
    public init?(_ text: String) {
        guard let ulid = ULID(text) else { return nil }
        self.init(ulid)
    }

    /// The milliseconds since the Unix epoch the id encodes: when its record was made.
    public var milliseconds: Int64 { ulid.milliseconds }

    public var description: String { ulid.description }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.ulid < rhs.ulid }

    public init(from decoder: any Decoder) throws {
        self.init(try ULID(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try ulid.encode(to: encoder)
    }
}

/// The id of an event, as `send` answers it.
public struct EventID: ULIDIdentifier {
    public let ulid: ULID
    public init(_ ulid: ULID) { self.ulid = ulid }
}

/// The id of a function run.
public struct RunID: ULIDIdentifier {
    public let ulid: ULID
    public init(_ ulid: ULID) { self.ulid = ulid }
}
