public import OrderedCollections

/// A JSON value: what events carry in `data` and `user`, and what steps and functions
/// record when their results are not a `Codable` type of the user's own.
///
/// Objects keep their keys in the order they were written or parsed, so a payload reads
/// back the way it was sent; equality ignores that order, as JSON does. Keys are compared by
/// their Unicode scalars (see ``Key``), so "é" and "e" + U+0301 are two keys, as in JSON.
///
/// Numbers keep the distinction JSON text makes: a literal without a fraction or exponent
/// that fits in 64 bits is an ``int(_:)``, anything else a ``double(_:)``. Both round-trip
/// exactly through the store: an integer is written with all its digits, and a double with
/// the shortest text that reads back as the same double.
///
/// ```swift
/// let data: JSON = ["cartId": "ed12c8bde", "itemIds": ["9f08sdh84", "sdf098487"], "total": 42.5]
/// data["cartId"]?.stringValue   // "ed12c8bde"
/// ```
public enum JSON: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object(Object)
}

extension JSON {
    /// An empty object, the default `data` of an event.
    public static var emptyObject: JSON { .object([:]) }

    /// The value at `key` when this is an object; `nil` for a missing key or another kind.
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members[key]
    }

    /// The element at `index` when this is an array and the index is in range.
    public subscript(index: Int) -> JSON? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    /// The value at a dotted path such as `"account.id"`, walking nested objects.
    ///
    /// Used to compare one field of two events (a `match` expression) without decoding them.
    public func value(atPath path: String) -> JSON? {
        var current: JSON? = self
        for component in path.split(separator: ".", omittingEmptySubsequences: false) {
            current = current?[String(component)]
        }
        return current
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The value as an integer when it is one, or a double with no fractional part that fits.
    public var intValue: Int64? {
        switch self {
        case .int(let value): return value
        case .double(let value): return Int64(exactly: value)
        default: return nil
        }
    }

    /// The value as a double for any JSON number.
    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    public var arrayValue: [JSON]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var objectValue: Object? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The name of this value's kind, as error messages name it ("an object", "an array").
    public var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

// MARK: - Equality

extension JSON {
    /// Values are equal as JSON documents are: object key order does not matter, and an
    /// integer equals a double of the same value (`1` and `1.0` are one number in JSON).
    public static func == (lhs: JSON, rhs: JSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null):
            return true
        case (.bool(let a), .bool(let b)):
            return a == b
        case (.string(let a), .string(let b)):
            return a == b
        case (.int(let a), .int(let b)):
            return a == b
        case (.double(let a), .double(let b)):
            return a == b
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)):
            return Int64(exactly: b) == a
        case (.array(let a), .array(let b)):
            return a == b
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            for (key, value) in a {
                guard let other = b[key], other == value else { return false }
            }
            return true
        default:
            return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null:
            hasher.combine(0)
        case .bool(let value):
            hasher.combine(1)
            hasher.combine(value)
        case .int(let value):
            hasher.combine(2)
            hasher.combine(Double(value))
        case .double(let value):
            hasher.combine(2)
            hasher.combine(value)
        case .string(let value):
            hasher.combine(3)
            hasher.combine(value)
        case .array(let elements):
            hasher.combine(4)
            hasher.combine(elements)
        case .object(let members):
            // Order-independent, to agree with `==`: combine a commutative sum of member hashes.
            hasher.combine(5)
            var sum = 0
            for (key, value) in members {
                var memberHasher = Hasher()
                memberHasher.combine(key)
                memberHasher.combine(value)
                sum = sum &+ memberHasher.finalize()
            }
            hasher.combine(sum)
        }
    }
}

// MARK: - Literals

extension JSON: ExpressibleByNilLiteral {
    public init(nilLiteral: ()) { self = .null }
}

extension JSON: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension JSON: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) { self = .int(value) }
}

extension JSON: ExpressibleByFloatLiteral {
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension JSON: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

extension JSON: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
}

extension JSON: ExpressibleByDictionaryLiteral {
    /// A later duplicate key replaces an earlier one, as it does when JSON text is parsed.
    public init(dictionaryLiteral elements: (Key, JSON)...) {
        var members = Object(minimumCapacity: elements.count)
        for (key, value) in elements { members[key] = value }
        self = .object(members)
    }
}
