import Foundation

/// What an Event API request's ids are derived from, so that a retried request gets the same
/// ids and is stored once: the value of Inngest's `x-inngest-event-id-seed` header.
///
/// Its text form is `"<milliseconds>,<entropy>"`: the sender's clock in milliseconds since the
/// Unix epoch, and ten random bytes in base64, as in `"1743130137367,eii2YKXRVTJPuA=="`. The
/// event at index `i` of the request gets the ULID with that time and the entropy plus `i`;
/// a sender makes a new seed for each request and reuses it for that request's retries.
public struct EventIDSeed: Sendable, Hashable, CustomStringConvertible {
    /// The time the ids encode, in milliseconds since the Unix epoch.
    public let milliseconds: Int64
    /// The upper 16 of the 80 random bits.
    let entropyHigh: UInt16
    /// The lower 64 of the 80 random bits.
    let entropyLow: UInt64

    init(milliseconds: Int64, entropyHigh: UInt16, entropyLow: UInt64) {
        self.milliseconds = milliseconds
        self.entropyHigh = entropyHigh
        self.entropyLow = entropyLow
    }

    /// A fresh seed for a request sent at `milliseconds`.
    public static func random(milliseconds: Int64) -> EventIDSeed {
        var generator = SystemRandomNumberGenerator()
        return EventIDSeed(
            milliseconds: min(max(0, milliseconds), Int64(ULID.maxMilliseconds)),
            entropyHigh: UInt16.random(in: .min ... .max, using: &generator),
            entropyLow: UInt64.random(in: .min ... .max, using: &generator))
    }

    /// Parses a header value; `nil` when it is not `"<milliseconds>,<base64 of 10 bytes>"`.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2,
              let milliseconds = Int64(parts[0].trimmingCharacters(in: .whitespaces)),
              (0...Int64(ULID.maxMilliseconds)).contains(milliseconds),
              let entropy = Data(base64Encoded: String(parts[1].trimmingCharacters(in: .whitespaces))),
              entropy.count == 10
        else { return nil }
        let bytes = Array(entropy)
        self.milliseconds = milliseconds
        self.entropyHigh = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        self.entropyLow = bytes[2...].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The header value.
    public var description: String {
        var bytes: [UInt8] = [UInt8(entropyHigh >> 8), UInt8(entropyHigh & 0xFF)]
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8((entropyLow >> UInt64(shift)) & 0xFF))
        }
        return "\(milliseconds),\(Data(bytes).base64EncodedString())"
    }

    /// The id of the event at `index` of the request: the seed's entropy plus `index`, as an
    /// 80-bit number that wraps around (as a sender's random entropy near the top may).
    public func eventID(at index: Int) -> EventID {
        let (low, overflow) = entropyLow.addingReportingOverflow(UInt64(index))
        let high = overflow ? entropyHigh &+ 1 : entropyHigh
        return EventID(ULID(milliseconds: UInt64(milliseconds), random: high, low))
    }
}

/// A seeded request that cannot be the retry of the request first sent with the seed: an id
/// the seed gives is taken by another event (other fields, or another environment), or the
/// batch holds events beyond the ones its first try stored. The seed must be new for each
/// request. Nothing of the batch is stored.
public struct EventIDSeedConflict: Error, Sendable, Hashable, CustomStringConvertible {
    /// The id the seed gives the event at `index`.
    public let eventID: EventID
    /// The event's position in the batch.
    public let index: Int
    /// Whether the event is one the first try did not hold (a retry that grew), rather than
    /// one whose id another event holds.
    public let isBeyondFirstTry: Bool

    /// Made by a store's append, which alone can tell that a seed was used before; public so
    /// that stores outside this module refuse such a request with the same error.
    public init(eventID: EventID, index: Int, isBeyondFirstTry: Bool = false) {
        self.eventID = eventID
        self.index = index
        self.isBeyondFirstTry = isBeyondFirstTry
    }

    /// The error in words, naming the event.
    public var description: String {
        if isBeyondFirstTry {
            return "events[\(index)]: the request first sent with this x-inngest-event-id-seed did not hold this event, so this is not a retry of it: use a new seed for each request"
        }
        return "events[\(index)]: the id that x-inngest-event-id-seed gives this event is taken by another event: use a new seed for each request"
    }
}
