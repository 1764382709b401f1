/// Why `send` refused a batch. The whole batch is refused, and nothing of it stored.
///
/// The error names the event by its position in the batch and the field at fault, so that
/// a caller (or an HTTP client, through the Event API) can find it:
/// `events[3].data: must be a JSON object, not an array`.
public struct EventValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A field of an event.
    public enum Field: String, Sendable, Hashable {
        case name, data, user, id, ts, v
    }

    public enum Problem: Sendable, Hashable {
        /// The name is empty or only whitespace.
        case emptyName
        /// The name starts with a prefix reserved for system events.
        case reservedName(prefix: String)
        /// The name or id holds a control character (Unicode category Cc: NUL, BEL, ESC,
        /// newlines…), which could forge log lines or rewrite a terminal that prints it;
        /// `scalar` is the first one.
        case controlCharacter(Unicode.Scalar)
        /// `data` or `user` is not a JSON object; `found` says what it is.
        case notAnObject(found: String)
        /// A `Codable` payload could not be encoded.
        case unencodable(reason: String)
        /// `data` or `user` nests arrays and objects deeper than `limit` levels
        /// (``JSON/maximumPayloadNestingDepth``), which the store could not read back once
        /// Stepwise wraps the event in its own (a run's `function.finished`).
        case nestedTooDeeply(limit: Int)
        /// `ts` is not a time in milliseconds between the years 2000 and 2200.
        case implausibleTimestamp(Int64)
        /// One event is larger than the per-event limit.
        case eventTooLarge(bytes: Int, limit: Int)
        /// The batch as a whole is larger than the per-request limit.
        case batchTooLarge(bytes: Int, limit: Int)
        /// The batch has more events than allowed.
        case tooManyEvents(count: Int, limit: Int)
        /// A required field is missing (from an event decoded from JSON).
        case missing
        /// A field, or the event itself, has the wrong JSON type (an event decoded from JSON):
        /// `expected` says what it must be, `found` what it is.
        case wrongType(expected: String, found: String)
        /// `user` was given to a client that has neither encryption keys nor said that it
        /// stores `user` in plain text (``UserEncryption``).
        case encryptionNotConfigured
        /// `user` holds a member that marks an encrypted envelope, which would read back as one.
        case reservedMember(String)
    }

    /// The event's position in the batch; `nil` when the batch as a whole is at fault.
    public let index: Int?
    /// The field at fault, when one is.
    public let field: Field?
    public let problem: Problem

    public init(index: Int?, field: Field?, problem: Problem) {
        self.index = index
        self.field = field
        self.problem = problem
    }

    public var description: String {
        var subject = index.map { "events[\($0)]" } ?? "batch"
        if let field { subject += ".\(field.rawValue)" }
        return "\(subject): \(reason)"
    }

    /// The problem in words, without the event's position.
    public var reason: String {
        switch problem {
        case .emptyName:
            return "must not be empty"
        case .reservedName(let prefix):
            return "names starting with '\(prefix)' are reserved for system events"
        case .controlCharacter(let scalar):
            return "must not contain control characters, found \(scalar.codePointDescription)"
        case .notAnObject(let found):
            return "must be a JSON object, not \(found)"
        case .unencodable(let reason):
            return "could not be encoded as JSON: \(reason)"
        case .nestedTooDeeply(let limit):
            return "nests arrays and objects deeper than the limit of \(limit) levels"
        case .implausibleTimestamp(let ts):
            return "\(ts) is not a time in milliseconds since the Unix epoch between the years 2000 and 2200"
                + (ts > 0 && ts < EventValidator.earliestTimestamp / 1000 * 10 ? " (seconds instead of milliseconds?)" : "")
        case .eventTooLarge(let bytes, let limit):
            return "the event is \(bytes) bytes of JSON, over the limit of \(limit) bytes"
        case .batchTooLarge(let bytes, let limit):
            return "the batch is \(bytes) bytes of JSON, over the limit of \(limit) bytes"
        case .tooManyEvents(let count, let limit):
            return "the batch holds \(count) events, over the limit of \(limit)"
        case .missing:
            return "is required"
        case .wrongType(let expected, let found):
            return "must be \(expected), not \(found)"
        case .encryptionNotConfigured:
            return "is encrypted at rest, and no encryption key is configured (STEPWISE_ENCRYPTION_KEYS, or the client's userEncryption); choose .plaintext to store it unencrypted"
        case .reservedMember(let name):
            return "must not hold the member '\(name)', which marks an encrypted envelope"
        }
    }
}
