#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OrderedCollections

extension JSON: Codable {
    public init(from decoder: any Decoder) throws {
        if let container = try? decoder.singleValueContainer() {
            if container.decodeNil() {
                self = .null
                return
            }
            if let value = try? container.decode(Bool.self) {
                self = .bool(value)
                return
            }
            if let value = try? container.decode(Int64.self) {
                self = .int(value)
                return
            }
            if let value = try? container.decode(Double.self) {
                self = .double(value)
                return
            }
            if let value = try? container.decode(String.self) {
                self = .string(value)
                return
            }
        }
        if var container = try? decoder.unkeyedContainer() {
            var elements: [JSON] = []
            while !container.isAtEnd {
                elements.append(try container.decode(JSON.self))
            }
            self = .array(elements)
            return
        }
        let container = try decoder.container(keyedBy: JSONCodingKey.self)
        var members = Object()
        for key in container.allKeys {
            members[Key(key.stringValue)] = try container.decode(JSON.self, forKey: key)
        }
        self = .object(members)
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .bool(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .int(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .double(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .string(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .array(let elements):
            var container = encoder.unkeyedContainer()
            for element in elements { try container.encode(element) }
        case .object(let members):
            var container = encoder.container(keyedBy: JSONCodingKey.self)
            for (key, value) in members {
                try container.encode(value, forKey: JSONCodingKey(key.string))
            }
        }
    }
}

private struct JSONCodingKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Why a value could not be turned into JSON, or JSON into the type asked for.
public struct JSONConversionError: Error, Sendable, CustomStringConvertible {
    public let description: String
    /// Whether the value nests deeper than the limit asked for, rather than failing to
    /// encode: boundaries answer that with their own limit's error.
    let exceedsNestingDepth: Bool

    init(description: String, exceedsNestingDepth: Bool = false) {
        self.description = description
        self.exceedsNestingDepth = exceedsNestingDepth
    }
}

extension JSON {
    /// The JSON form of a `Codable` value, with dates as `dates` says.
    ///
    /// A `JSON` value inside it is kept as it is (its order, its keys); the members of the
    /// value's own keyed containers are sorted, so that the text of a value is the same in
    /// every process and every replay (a `Dictionary`'s order changes from one process to
    /// the next), which is what lets a retried request be recognised by its payload. See
    /// ``JSONValueEncoder``.
    public init(encoding value: some Encodable, dates: JSONDateEncoding = .iso8601) throws(JSONConversionError) {
        self = try JSON.measuringDepth(encoding: value, dates: dates).value
    }

    /// The JSON form of a value for a boundary that keeps it (a step result, a function
    /// output): as ``init(encoding:dates:)``, refused when it nests deeper than
    /// ``maximumPayloadNestingDepth``, so that it can always be read back, wrapped.
    static func payload(encoding value: some Encodable, dates: JSONDateEncoding) throws(JSONConversionError) -> JSON {
        let (json, depth) = try measuringDepth(encoding: value, dates: dates)
        guard depth <= maximumPayloadNestingDepth else { throw tooDeep(maximumPayloadNestingDepth) }
        return json
    }

    /// The error for a value nested deeper than `limit`.
    static func tooDeep(_ limit: Int) -> JSONConversionError {
        JSONConversionError(
            description: "the value nests arrays and objects deeper than the limit of \(limit) levels", exceedsNestingDepth: true)
    }

    /// The JSON form of a value and how deeply it nests, measured as the encoding finishes
    /// (or, for a value that is JSON already, by a walk over it).
    static func measuringDepth(encoding value: some Encodable, dates: JSONDateEncoding) throws(JSONConversionError) -> (value: JSON, depth: Int) {
        if let json = value as? JSON {
            return (json, json.nestingDepth)
        }
        do {
            return try JSONValueEncoder(dates: dates).encode(value)
        } catch is JSONValueEncoder.TooDeep {
            // Deeper than the store reads, and so deeper than any payload limit.
            throw tooDeep(maximumPayloadNestingDepth)
        } catch {
            throw JSONConversionError(description: "could not encode \(type(of: value)) as JSON: \(error)")
        }
    }

    /// Decodes this value as `type`, with the same conventions as ``init(encoding:dates:)``.
    /// See ``JSONValueDecoder``.
    public func decode<Value: Decodable>(as type: Value.Type = Value.self, dates: JSONDateEncoding = .iso8601) throws(JSONConversionError) -> Value {
        if let json = self as? Value { return json }
        do {
            return try JSONValueDecoder(dates: dates).decode(Value.self, from: self)
        } catch {
            throw JSONConversionError(description: "could not decode \(Value.self) from \(kindDescription) JSON: \(error)")
        }
    }
}
