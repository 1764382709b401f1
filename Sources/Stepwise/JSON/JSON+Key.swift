public import OrderedCollections

extension JSON {
    /// An object key, compared by its Unicode scalars as JSON compares keys (RFC 8259 §8.3).
    ///
    /// Swift's `String` equality is canonical equivalence: a precomposed "é" equals "e" and a
    /// combining accent, and "K" equals the Kelvin sign. Keyed by `String`, an object would
    /// merge two keys that any other JSON reader keeps apart, and silently drop one value.
    /// Keys compare by their UTF-8 bytes instead, which for valid text is the same as
    /// comparing scalars, and is what the bytes on the wire and in the store are.
    public struct Key: Sendable, Hashable, Comparable, ExpressibleByStringLiteral, CustomStringConvertible {
        /// The key's text.
        public let string: String

        /// A key with exactly these Unicode scalars.
        public init(_ string: String) {
            self.string = string
        }

        /// A key written as a literal, `"cartId"`, so that object literals read as they would
        /// with `String` keys.
        public init(stringLiteral value: String) {
            self.string = value
        }

        /// Equal when the Unicode scalars are, not when the texts are merely canonically
        /// equivalent: that is what keeps "é" and "e" + U+0301 two keys.
        public static func == (lhs: Key, rhs: Key) -> Bool {
            lhs.string.utf8.elementsEqual(rhs.string.utf8)
        }

        /// Hashes the UTF-8 bytes, to agree with `==` (a `String`'s hash is that of its
        /// normalized form, which would put the two spellings of "é" together).
        public func hash(into hasher: inout Hasher) {
            // Native strings are contiguous UTF-8: hash the bytes at once.
            let hashed: Void? = string.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
            if hashed == nil {
                for byte in string.utf8 { hasher.combine(byte) }
            }
            hasher.combine(0xFF as UInt8)  // not a UTF-8 byte: ends the key, so "ab"+"c" differs from "a"+"bc"
        }

        /// Byte order, which is scalar order for UTF-8: a total order in which two keys are
        /// equal only when `==` says so, so sorting keys is deterministic.
        public static func < (lhs: Key, rhs: Key) -> Bool {
            lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
        }

        /// The key's text, for messages and interpolation.
        public var description: String { string }
    }

    /// The members of a JSON object, in order, keyed by ``Key``.
    public typealias Object = OrderedDictionary<Key, JSON>
}

extension OrderedDictionary where Key == JSON.Key {
    /// The value of the member whose key has exactly the scalars of `key`.
    public subscript(key: String) -> Value? {
        get { self[JSON.Key(key)] }
        set { self[JSON.Key(key)] = newValue }
    }
}
