/// Which event names something listens for: an exact name, or every name with a prefix.
///
/// Written as a string: `"storefront/cart.checkout.completed"` matches that name only;
/// a trailing `*` matches any rest, so `"storefront/*"` matches every `storefront/` event and
/// `"*"` matches all. A `*` anywhere else is an ordinary character.
public struct EventPattern: Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The exact name, or the prefix when ``isPrefix``.
    public let text: String
    /// Whether the pattern ended in `*`.
    public let isPrefix: Bool

    public init(_ pattern: String) {
        if pattern.hasSuffix("*") {
            text = String(pattern.dropLast())
            isPrefix = true
        } else {
            text = pattern
            isPrefix = false
        }
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    /// Every event name.
    public static let all = EventPattern("*")

    public func matches(_ name: String) -> Bool {
        isPrefix ? name.hasPrefix(text) : name == text
    }

    public var description: String { isPrefix ? text + "*" : text }
}
