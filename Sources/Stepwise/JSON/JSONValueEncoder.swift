#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OrderedCollections

/// Encodes a `Codable` value straight into a ``JSON`` value, without writing and parsing text.
///
/// `JSONEncoder` went through text and its own dictionaries: a `JSON` value inside a `Codable`
/// type lost its key order, and its canonically equivalent keys were merged (Foundation keys
/// by `String`); a `Double` of `10.0` came back as the integer `10`. Here a `JSON` value is
/// kept as it is, numbers keep their kind, and keys are ``JSON/Key``s. The members a keyed
/// container writes are sorted (by ``JSON/Key``'s order), as `JSONEncoder`'s `.sortedKeys`
/// sorted them, so that a `Dictionary`, whose order changes from one process to the next,
/// always gives the same text.
///
/// Dates follow a ``JSONDateEncoding``; `Data` is base64 text, `URL` its absolute string and
/// `Decimal` a number, as `JSONEncoder` writes them by default.
struct JSONValueEncoder {
    var dates: JSONDateEncoding

    /// The value as JSON, and how deeply it nests.
    ///
    /// - Throws: `EncodingError` for a value that cannot be JSON (a non-finite number), and
    ///   ``TooDeep`` for one that nests deeper than ``JSON/maximumNestingDepth`` (checked as
    ///   it goes, so a runaway recursive value fails rather than exhausting the stack).
    func encode(_ value: some Encodable) throws -> (value: JSON, depth: Int) {
        let slot = Slot()
        try Self.encode(value, into: slot, codingPath: [], dates: dates)
        return slot.finish()
    }

    static func encode(_ value: some Encodable, into slot: Slot, codingPath: [any CodingKey], dates: JSONDateEncoding) throws {
        if codingPath.count > JSON.maximumNestingDepth { throw TooDeep() }
        switch value {
        case let json as JSON:
            slot.content = .value(json)
        case let date as Date:
            try dates.encode(date, to: Encoder(slot: slot, codingPath: codingPath, dates: dates))
        case let data as Data:
            slot.content = .value(.string(data.base64EncodedString()))
        case let url as URL:
            slot.content = .value(.string(url.absoluteString))
        case let decimal as Decimal:
            slot.content = .value((try? JSON(parsing: decimal.description)) ?? .string(decimal.description))
        default:
            try value.encode(to: Encoder(slot: slot, codingPath: codingPath, dates: dates))
        }
    }

    /// Where one value is written: filled in by a container, read once at the end. A class,
    /// because containers nested in it keep writing after the call that made them returns.
    final class Slot {
        enum Content {
            case empty
            case value(JSON)
            case array(Elements)
            case object(Members)
        }

        var content = Content.empty

        func finish() -> (value: JSON, depth: Int) {
            switch content {
            case .empty:
                return (.emptyObject, 1)
            case .value(let json):
                return (json, json.nestingDepth)
            case .array(let elements):
                var values: [JSON] = []
                values.reserveCapacity(elements.slots.count)
                var deepest = 0
                for slot in elements.slots {
                    let (value, depth) = slot.finish()
                    values.append(value)
                    deepest = max(deepest, depth)
                }
                return (.array(values), deepest + 1)
            case .object(let members):
                var object = JSON.Object(minimumCapacity: members.slots.count)
                var deepest = 0
                for (key, slot) in members.slots.sorted(by: { $0.key < $1.key }) {
                    let (value, depth) = slot.finish()
                    object[key] = value
                    deepest = max(deepest, depth)
                }
                return (.object(object), deepest + 1)
            }
        }

        func elements() -> Elements {
            if case .array(let elements) = content { return elements }
            let elements = Elements()
            content = .array(elements)
            return elements
        }

        func members() -> Members {
            if case .object(let members) = content { return members }
            let members = Members()
            content = .object(members)
            return members
        }
    }

    final class Elements {
        var slots: [Slot] = []
        func append() -> Slot {
            let slot = Slot()
            slots.append(slot)
            return slot
        }
    }

    final class Members {
        var slots = OrderedDictionary<JSON.Key, Slot>()
        func slot(_ key: String) -> Slot {
            let key = JSON.Key(key)
            if let slot = slots[key] { return slot }
            let slot = Slot()
            slots[key] = slot
            return slot
        }
    }

    struct Encoder: Swift.Encoder {
        let slot: Slot
        let codingPath: [any CodingKey]
        let dates: JSONDateEncoding
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            KeyedEncodingContainer(KeyedContainer<Key>(members: slot.members(), codingPath: codingPath, dates: dates))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            UnkeyedContainer(elements: slot.elements(), codingPath: codingPath, dates: dates)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer {
            SingleValueContainer(slot: slot, codingPath: codingPath, dates: dates)
        }
    }

    struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let members: Members
        let codingPath: [any CodingKey]
        let dates: JSONDateEncoding

        mutating func encodeNil(forKey key: Key) throws { members.slot(key.stringValue).content = .value(.null) }

        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            let slot = members.slot(key.stringValue)
            var single = SingleValueContainer(slot: slot, codingPath: codingPath + [key], dates: dates)
            try single.encode(value)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            KeyedEncodingContainer(KeyedContainer<NestedKey>(
                members: members.slot(key.stringValue).members(), codingPath: codingPath + [key], dates: dates))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            UnkeyedContainer(elements: members.slot(key.stringValue).elements(), codingPath: codingPath + [key], dates: dates)
        }

        mutating func superEncoder() -> any Swift.Encoder {
            Encoder(slot: members.slot("super"), codingPath: codingPath, dates: dates)
        }

        mutating func superEncoder(forKey key: Key) -> any Swift.Encoder {
            Encoder(slot: members.slot(key.stringValue), codingPath: codingPath + [key], dates: dates)
        }
    }

    struct UnkeyedContainer: UnkeyedEncodingContainer {
        let elements: Elements
        let codingPath: [any CodingKey]
        let dates: JSONDateEncoding
        var count: Int { elements.slots.count }

        mutating func encodeNil() throws { elements.append().content = .value(.null) }

        mutating func encode<T: Encodable>(_ value: T) throws {
            var single = SingleValueContainer(slot: elements.append(), codingPath: codingPath + [IndexKey(count)], dates: dates)
            try single.encode(value)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            let path = codingPath + [IndexKey(count)]
            return KeyedEncodingContainer(KeyedContainer<NestedKey>(members: elements.append().members(), codingPath: path, dates: dates))
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            let path = codingPath + [IndexKey(count)]
            return UnkeyedContainer(elements: elements.append().elements(), codingPath: path, dates: dates)
        }

        mutating func superEncoder() -> any Swift.Encoder {
            let path = codingPath + [IndexKey(count)]
            return Encoder(slot: elements.append(), codingPath: path, dates: dates)
        }
    }

    struct SingleValueContainer: SingleValueEncodingContainer {
        let slot: Slot
        let codingPath: [any CodingKey]
        let dates: JSONDateEncoding

        mutating func encodeNil() throws { slot.content = .value(.null) }
        mutating func encode(_ value: Bool) throws { slot.content = .value(.bool(value)) }
        mutating func encode(_ value: String) throws { slot.content = .value(.string(value)) }
        mutating func encode(_ value: Double) throws { slot.content = .value(try number(value)) }
        mutating func encode(_ value: Float) throws {
            // Through its own shortest text, as JSONEncoder writes it: 0.1 as a Float is 0.1,
            // not the 0.10000000149011612 its Double conversion would give.
            slot.content = .value(try number(Double(value.description) ?? Double(value)))
        }
        mutating func encode(_ value: Int) throws { slot.content = .value(.int(Int64(value))) }
        mutating func encode(_ value: Int8) throws { slot.content = .value(.int(Int64(value))) }
        mutating func encode(_ value: Int16) throws { slot.content = .value(.int(Int64(value))) }
        mutating func encode(_ value: Int32) throws { slot.content = .value(.int(Int64(value))) }
        mutating func encode(_ value: Int64) throws { slot.content = .value(.int(value)) }
        mutating func encode(_ value: UInt) throws { slot.content = .value(Self.unsigned(UInt64(value))) }
        mutating func encode(_ value: UInt8) throws { slot.content = .value(.int(Int64(value))) }
        mutating func encode(_ value: UInt16) throws { slot.content = .value(.int(Int64(value))) }
        mutating func encode(_ value: UInt32) throws { slot.content = .value(.int(Int64(value))) }
        mutating func encode(_ value: UInt64) throws { slot.content = .value(Self.unsigned(value)) }

        mutating func encode<T: Encodable>(_ value: T) throws {
            try JSONValueEncoder.encode(value, into: slot, codingPath: codingPath, dates: dates)
        }

        /// An unsigned integer past `Int64.max` is a double, as its text would be parsed.
        static func unsigned(_ value: UInt64) -> JSON {
            Int64(exactly: value).map(JSON.int) ?? .double(Double(value))
        }

        func number(_ value: Double) throws -> JSON {
            guard value.isFinite else {
                throw EncodingError.invalidValue(value, EncodingError.Context(
                    codingPath: codingPath, debugDescription: "\(value) has no JSON spelling"))
            }
            return .double(value)
        }
    }

    /// Thrown when a value nests deeper than ``JSON/maximumNestingDepth``: deeper than any
    /// payload may be, so the encoding stops there.
    struct TooDeep: Error {}

    /// The key of an element of an array, for coding paths.
    struct IndexKey: CodingKey {
        let intValue: Int?
        var stringValue: String { "Index \(intValue ?? 0)" }
        init(_ index: Int) { intValue = index }
        init?(stringValue: String) { nil }
        init?(intValue: Int) { self.intValue = intValue }
    }
}
