#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Decodes a `Codable` value straight from a ``JSON`` value, the counterpart of
/// ``JSONValueEncoder``: keys are looked up by their Unicode scalars, a `JSON` member comes
/// back as it was stored (its order and keys intact), and no text is written and parsed again.
///
/// What it accepts is what `JSONDecoder` accepted from the same text: a number of either
/// kind for any numeric type it fits exactly, base64 text for `Data`, a string for `URL`.
struct JSONValueDecoder {
    var dates: JSONDateEncoding

    func decode<T: Decodable>(_ type: T.Type, from value: JSON) throws -> T {
        try Self.decode(type, from: value, codingPath: [], dates: dates)
    }

    static func decode<T: Decodable>(_ type: T.Type, from value: JSON, codingPath: [any CodingKey], dates: JSONDateEncoding) throws -> T {
        if T.self == JSON.self, let json = value as? T { return json }
        let decoder = Decoder(value: value, codingPath: codingPath, dates: dates)
        if T.self == Date.self, let date = try dates.decode(from: decoder) as? T { return date }
        if T.self == Data.self {
            guard case .string(let text) = value, let data = Data(base64Encoded: text), let result = data as? T else {
                throw mismatch(T.self, value, codingPath, "base64 text")
            }
            return result
        }
        if T.self == URL.self {
            guard case .string(let text) = value, let url = URL(string: text), let result = url as? T else {
                throw mismatch(T.self, value, codingPath, "a URL")
            }
            return result
        }
        if T.self == Decimal.self {
            guard value.doubleValue != nil, let decimal = Decimal(string: value.serialized), let result = decimal as? T else {
                throw mismatch(T.self, value, codingPath, "a number")
            }
            return result
        }
        return try T(from: decoder)
    }

    static func mismatch(_ type: Any.Type, _ value: JSON, _ codingPath: [any CodingKey], _ expected: String) -> DecodingError {
        DecodingError.typeMismatch(type, DecodingError.Context(
            codingPath: codingPath, debugDescription: "expected \(expected), found \(value.kindDescription)"))
    }

    struct Decoder: Swift.Decoder {
        let value: JSON
        let codingPath: [any CodingKey]
        let dates: JSONDateEncoding
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            guard case .object(let members) = value else { throw mismatch(JSON.Object.self, value, codingPath, "an object") }
            return KeyedDecodingContainer(KeyedContainer<Key>(members: members, codingPath: codingPath, dates: dates))
        }

        func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
            guard case .array(let elements) = value else { throw mismatch([JSON].self, value, codingPath, "an array") }
            return UnkeyedContainer(elements: elements, codingPath: codingPath, dates: dates)
        }

        func singleValueContainer() throws -> any SingleValueDecodingContainer {
            SingleValueContainer(value: value, codingPath: codingPath, dates: dates)
        }
    }

    struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let members: JSON.Object
        let codingPath: [any CodingKey]
        let dates: JSONDateEncoding

        var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0.string) } }

        func contains(_ key: Key) -> Bool { members[JSON.Key(key.stringValue)] != nil }

        func member(_ key: Key) throws -> JSON {
            guard let value = members[JSON.Key(key.stringValue)] else {
                throw DecodingError.keyNotFound(key, DecodingError.Context(
                    codingPath: codingPath, debugDescription: "no member '\(key.stringValue)'"))
            }
            return value
        }

        func decodeNil(forKey key: Key) throws -> Bool { try member(key).isNull }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try JSONValueDecoder.decode(type, from: try member(key), codingPath: codingPath + [key], dates: dates)
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            try Decoder(value: try member(key), codingPath: codingPath + [key], dates: dates).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try Decoder(value: try member(key), codingPath: codingPath + [key], dates: dates).unkeyedContainer()
        }

        func superDecoder() throws -> any Swift.Decoder {
            Decoder(value: members["super"] ?? .null, codingPath: codingPath, dates: dates)
        }

        func superDecoder(forKey key: Key) throws -> any Swift.Decoder {
            Decoder(value: members[JSON.Key(key.stringValue)] ?? .null, codingPath: codingPath + [key], dates: dates)
        }
    }

    struct UnkeyedContainer: UnkeyedDecodingContainer {
        let elements: [JSON]
        let codingPath: [any CodingKey]
        let dates: JSONDateEncoding
        var currentIndex = 0

        init(elements: [JSON], codingPath: [any CodingKey], dates: JSONDateEncoding) {
            self.elements = elements
            self.codingPath = codingPath
            self.dates = dates
        }

        var count: Int? { elements.count }
        var isAtEnd: Bool { currentIndex >= elements.count }

        mutating func next(_ type: Any.Type) throws -> (JSON, [any CodingKey]) {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(type, DecodingError.Context(
                    codingPath: codingPath, debugDescription: "the array has no element \(currentIndex)"))
            }
            let path = codingPath + [JSONValueEncoder.IndexKey(currentIndex)]
            currentIndex += 1
            return (elements[currentIndex - 1], path)
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd, elements[currentIndex].isNull else { return false }
            currentIndex += 1
            return true
        }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let (value, path) = try next(type)
            return try JSONValueDecoder.decode(type, from: value, codingPath: path, dates: dates)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            let (value, path) = try next(JSON.Object.self)
            return try Decoder(value: value, codingPath: path, dates: dates).container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            let (value, path) = try next([JSON].self)
            return try Decoder(value: value, codingPath: path, dates: dates).unkeyedContainer()
        }

        mutating func superDecoder() throws -> any Swift.Decoder {
            let (value, path) = try next(JSON.self)
            return Decoder(value: value, codingPath: path, dates: dates)
        }
    }

    struct SingleValueContainer: SingleValueDecodingContainer {
        let value: JSON
        let codingPath: [any CodingKey]
        let dates: JSONDateEncoding

        func decodeNil() -> Bool { value.isNull }

        func decode(_ type: Bool.Type) throws -> Bool {
            guard case .bool(let bool) = value else { throw mismatch(type, value, codingPath, "a boolean") }
            return bool
        }

        func decode(_ type: String.Type) throws -> String {
            guard case .string(let string) = value else { throw mismatch(type, value, codingPath, "a string") }
            return string
        }

        func decode(_ type: Double.Type) throws -> Double {
            guard let double = value.doubleValue else { throw mismatch(type, value, codingPath, "a number") }
            return double
        }

        func decode(_ type: Float.Type) throws -> Float {
            guard let double = value.doubleValue else { throw mismatch(type, value, codingPath, "a number") }
            let float = Float(double)
            guard float.isFinite else {
                throw DecodingError.dataCorrupted(DecodingError.Context(
                    codingPath: codingPath, debugDescription: "\(double) does not fit in a Float"))
            }
            return float
        }

        func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
            let result: T?
            switch value {
            case .int(let integer): result = T(exactly: integer)
            case .double(let double): result = T(exactly: double)
            default: throw mismatch(type, value, codingPath, "a number")
            }
            guard let result else {
                throw DecodingError.dataCorrupted(DecodingError.Context(
                    codingPath: codingPath, debugDescription: "\(value) does not fit in \(T.self)"))
            }
            return result
        }

        func decode(_ type: Int.Type) throws -> Int { try integer(type) }
        func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
        func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
        func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
        func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
        func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            try JSONValueDecoder.decode(type, from: value, codingPath: codingPath, dates: dates)
        }
    }
}
