import Synchronization

/// The id Stepwise gives every event it accepts and every run it creates: a ULID, 26
/// characters such as `01H08W4TMBNKMEWFD0TYC532GG`, the same form Inngest's Event API
/// answers with.
///
/// A ULID is 48 bits of milliseconds since the epoch followed by 80 random bits, written in
/// Crockford's base 32. Its text sorts as its time does, so ids double as a time-ordered
/// cursor. Ids made by one process are strictly increasing, even within one millisecond
/// or when the wall clock steps back (see ``ULIDGenerator``).

public struct ULID: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The upper 64 bits: 48 bits of time, then the first 16 random bits.
    let high: UInt64
    /// The lower 64 random bits.
    let low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    init(milliseconds: UInt64, random high16: UInt16, _ low64: UInt64) {
        self.high = (milliseconds << 16) | UInt64(high16)
        self.low = low64
    }

    /// The milliseconds since the Unix epoch encoded in the id: when the event was accepted.
    public var milliseconds: Int64 { Int64(high >> 16) }

    /// The smallest id of a millisecond, a bound for range queries over ids.
    static func lowerBound(milliseconds: Int64) -> ULID {
        ULID(milliseconds: UInt64(clamping: max(0, milliseconds)) & ULID.maxMilliseconds, random: 0, 0)
    }

    static let maxMilliseconds: UInt64 = (1 << 48) - 1

    public static func < (lhs: ULID, rhs: ULID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// The id's canonical 26-character text.
    public var description: String {
        var characters = [UInt8](repeating: 0, count: 26)
        // 128 bits in 26 groups of 5 bits, from the least significant end; the first
        // character holds only the top 3 bits.
        var high = self.high
        var low = self.low
        for index in stride(from: 25, through: 0, by: -1) {
            characters[index] = ULID.alphabet[Int(low & 0x1F)]
            low = (low >> 5) | ((high & 0x1F) << 59)
            high >>= 5
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// Reads an id from its text. Lowercase letters are accepted, as Crockford's base 32
    /// allows; anything else that is not 26 characters of that alphabet is refused.
    public init?(_ text: some StringProtocol) {
        self.init(utf8: text.utf8)
    }

    /// Parses the 26-character form of a `String`: a concrete overload, so that callers in
    /// other modules (the HTTP layers parse an id per event) do not run the generic one
    /// unspecialized.
    public init?(_ text: String) {
        self.init(utf8: text.utf8)
    }

    private init?(utf8: some Collection<UInt8>) {
        guard utf8.count == 26 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, byte) in utf8.enumerated() {
            guard let value = ULID.decodeTable[Int(byte)] else { return nil }
            if index == 0 && value > 7 { return nil }  // would overflow 128 bits
            high = (high << 5) | (low >> 59)
            low = (low << 5) | UInt64(value)
        }
        self.init(high: high, low: low)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = ULID(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an event id (ULID): \(text)")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    private static let alphabet: [UInt8] = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    private static let decodeTable: [UInt8?] = {
        var table = [UInt8?](repeating: nil, count: 256)
        for (value, byte) in alphabet.enumerated() {
            table[Int(byte)] = UInt8(value)
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") {
                table[Int(byte + 32)] = UInt8(value)
            }
        }
        return table
    }()
}

/// Makes ids that are strictly increasing across every caller in the process.
///
/// Within one millisecond, or when the clock reads earlier than the last id's time, the
/// next id is the last one plus one in its random part, keeping the last id's time. So ids
/// sort in the order they were made, which is the order their events were committed.
public final class ULIDGenerator: Sendable {
    /// The generator every store in the process shares, so that ids are ordered process-wide.
    public static let shared = ULIDGenerator()

    private let last = Mutex<ULID?>(nil)

    public init() {}

    /// The next id, for an event accepted at `milliseconds` since the epoch.
    public func next(milliseconds: Int64) -> ULID {
        let now = UInt64(clamping: max(0, milliseconds)) & ULID.maxMilliseconds
        return last.withLock { last in
            let id: ULID
            if let previous = last, previous.milliseconds >= Int64(now) {
                id = ULIDGenerator.successor(of: previous)
            } else {
                var random = SystemRandomNumberGenerator()
                id = ULID(milliseconds: now, random: random.next(), random.next())
            }
            last = id
            return id
        }
    }

    /// The id one above `id`: the 80 random bits plus one, carrying into the time when they
    /// are all ones (one millisecond early, which keeps the order and loses nothing).
    private static func successor(of id: ULID) -> ULID {
        let (low, overflow) = id.low.addingReportingOverflow(1)
        return ULID(high: overflow ? id.high &+ 1 : id.high, low: low)
    }
}

