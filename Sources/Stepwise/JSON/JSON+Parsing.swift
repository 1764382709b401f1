import OrderedCollections

/// Why a piece of JSON text could not be read, and where.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The byte offset into the input at which reading stopped.
    public let offset: Int
    public let reason: String
    /// Whether the text nests deeper than ``JSON/maximumNestingDepth``, rather than being
    /// malformed: boundaries answer that with their own limit's error.
    var exceedsNestingDepth = false

    public var description: String { "malformed JSON at byte \(offset): \(reason)" }
}

extension JSON {
    /// How deeply arrays and objects may nest before the parser refuses the input.
    ///
    /// The parser recurses once per level; the limit keeps hostile input (a megabyte of `[`)
    /// from exhausting a thread's stack, which would kill the process.
    public static let maximumNestingDepth = 256

    /// Parses JSON text (RFC 8259): one value, optionally surrounded by whitespace.
    ///
    /// Strict where lenient parsers guess: invalid UTF-8, lone surrogate escapes, leading
    /// zeros, trailing commas, numbers outside the range of a double, and trailing bytes
    /// are all errors. A duplicate object key keeps the last value, as Go's and JavaScript's
    /// parsers do, so that payloads forwarded from those SDKs read the same here.
    public init(parsing text: String) throws(JSONParseError) {
        var text = text
        let result = text.withUTF8 { bytes in
            Result { () throws(JSONParseError) in try JSON(parsingUTF8: bytes) }
        }
        self = try result.get()
    }

    /// Parses JSON text given as UTF-8 bytes. See ``init(parsing:)-(String)``.
    public init(parsing bytes: some Collection<UInt8>) throws(JSONParseError) {
        let result: Result<JSON, JSONParseError>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JSONParseError) in try JSON(parsingUTF8: buffer) }
        }
        if let result {
            self = try result.get()
        } else {
            let copy = Array(bytes)
            let result = copy.withUnsafeBufferPointer { buffer in
                Result { () throws(JSONParseError) in try JSON(parsingUTF8: buffer) }
            }
            self = try result.get()
        }
    }

    init(parsingUTF8 bytes: UnsafeBufferPointer<UInt8>) throws(JSONParseError) {
        self = try JSON.parseMeasuringDepth(bytes).value
    }

    /// Parses JSON text, and says how deeply it nests (see ``nestingDepth``), measured by
    /// the parse itself.
    static func parseMeasuringDepth(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> (value: JSON, depth: Int) {
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.position != bytes.count {
            throw parser.error("unexpected bytes after the end of the value")
        }
        return (value, parser.deepest)
    }
}

/// A recursive-descent parser over UTF-8 bytes. Strings are validated as UTF-8 once,
/// when the bytes of each string are turned into a `String`.
private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    /// The deepest level of arrays and objects read so far.
    var deepest = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    func error(_ reason: String) -> JSONParseError {
        JSONParseError(offset: position, reason: reason)
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                position += 1
            default:
                return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSON {
        guard position < bytes.count else { throw error("unexpected end of input, expected a value") }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["):
            return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectKeyword("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectKeyword("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectKeyword("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try parseNumber()
        default:
            throw error("unexpected character \(describe(bytes[position])), expected a value")
        }
    }

    mutating func expectKeyword(_ keyword: StaticString) throws(JSONParseError) {
        let length = keyword.utf8CodeUnitCount
        guard position + length <= bytes.count else { throw error("unexpected end of input in a literal") }
        let matches = keyword.withUTF8Buffer { expected in
            (0..<length).allSatisfy { bytes[position + $0] == expected[$0] }
        }
        guard matches else { throw error("invalid literal, expected \(keyword)") }
        position += length
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSON {
        guard depth <= JSON.maximumNestingDepth else {
            var tooDeep = error("nesting deeper than \(JSON.maximumNestingDepth) levels")
            tooDeep.exceedsNestingDepth = true
            throw tooDeep
        }
        if depth > deepest { deepest = depth }
        position += 1  // {
        var members = JSON.Object()
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of input in an object") }
            guard bytes[position] == UInt8(ascii: "\"") else {
                throw error("expected a string key, found \(describe(bytes[position]))")
            }
            let key = try parseString()
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                throw error("expected ':' after an object key")
            }
            position += 1
            skipWhitespace()
            members[JSON.Key(key)] = try parseValue(depth: depth)
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of input in an object") }
            switch bytes[position] {
            case UInt8(ascii: ","):
                position += 1
            case UInt8(ascii: "}"):
                position += 1
                return .object(members)
            default:
                throw error("expected ',' or '}' in an object, found \(describe(bytes[position]))")
            }
        }
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSON {
        guard depth <= JSON.maximumNestingDepth else {
            var tooDeep = error("nesting deeper than \(JSON.maximumNestingDepth) levels")
            tooDeep.exceedsNestingDepth = true
            throw tooDeep
        }
        if depth > deepest { deepest = depth }
        position += 1  // [
        var elements: [JSON] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of input in an array") }
            switch bytes[position] {
            case UInt8(ascii: ","):
                position += 1
            case UInt8(ascii: "]"):
                position += 1
                return .array(elements)
            default:
                throw error("expected ',' or ']' in an array, found \(describe(bytes[position]))")
            }
        }
    }

    mutating func parseString() throws(JSONParseError) -> String {
        let start = position
        position += 1  // opening quote
        var decoded: [UInt8] = []
        var runStart = position
        while true {
            guard position < bytes.count else {
                position = start
                throw error("unterminated string")
            }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                break
            } else if byte == UInt8(ascii: "\\") {
                decoded.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<position]))
                try parseEscape(into: &decoded)
                runStart = position
            } else if byte < 0x20 {
                throw error("unescaped control character \(describe(byte)) in a string")
            } else {
                position += 1
            }
        }
        let tail = UnsafeBufferPointer(rebasing: bytes[runStart..<position])
        position += 1  // closing quote
        let result: String?
        if decoded.isEmpty {
            result = Self.string(validating: tail)
        } else {
            decoded.append(contentsOf: tail)
            result = decoded.withUnsafeBufferPointer { Self.string(validating: $0) }
        }
        guard let result else {
            position = start
            throw error("invalid UTF-8 in a string")
        }
        return result
    }

    /// The bytes as a `String`, or `nil` when they are not UTF-8. ASCII, most of what JSON
    /// holds, needs no validation, and skips the stdlib's validating initializer, which runs
    /// generic over its encoding (measured: a fifth of the time of parsing an Event API body
    /// went to its metadata look-ups).
    static func string(validating bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var high: UInt8 = 0
        for byte in bytes { high |= byte }
        if high < 0x80 { return String(decoding: bytes, as: UTF8.self) }
        return String(validating: bytes, as: UTF8.self)
    }

    mutating func parseEscape(into output: inout [UInt8]) throws(JSONParseError) {
        position += 1  // backslash
        guard position < bytes.count else { throw error("unterminated escape sequence") }
        let byte = bytes[position]
        position += 1
        switch byte {
        case UInt8(ascii: "\""): output.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): output.append(UInt8(ascii: "\\"))
        case UInt8(ascii: "/"): output.append(UInt8(ascii: "/"))
        case UInt8(ascii: "b"): output.append(0x08)
        case UInt8(ascii: "f"): output.append(0x0C)
        case UInt8(ascii: "n"): output.append(0x0A)
        case UInt8(ascii: "r"): output.append(0x0D)
        case UInt8(ascii: "t"): output.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try parseHexQuad()
            if (0xD800...0xDBFF).contains(scalar) {
                // A high surrogate must be followed by an escaped low surrogate.
                guard position + 1 < bytes.count,
                      bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                else { throw error("lone high surrogate in a \\u escape") }
                position += 2
                let low = try parseHexQuad()
                guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid low surrogate in a \\u escape") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(scalar) {
                throw error("lone low surrogate in a \\u escape")
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
            output.append(contentsOf: unicode.utf8)
        default:
            position -= 1
            throw error("invalid escape \\\(describe(byte))")
        }
    }

    mutating func parseHexQuad() throws(JSONParseError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("unterminated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit \(describe(byte)) in a \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    mutating func parseNumber() throws(JSONParseError) -> JSON {
        let start = position
        var isInteger = true
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < bytes.count, isDigit(bytes[position]) else { throw error("expected a digit in a number") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            if position < bytes.count, isDigit(bytes[position]) { throw error("leading zero in a number") }
        } else {
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard position < bytes.count, isDigit(bytes[position]) else { throw error("expected a digit after '.'") }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard position < bytes.count, isDigit(bytes[position]) else { throw error("expected a digit in an exponent") }
            while position < bytes.count, isDigit(bytes[position]) { position += 1 }
        }
        // The bytes are ASCII by construction, so this decoding cannot fail or replace anything.
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        // "-0" is read as the double -0.0: as an integer it would lose its sign, and it is
        // how JSONEncoder writes a Double's negative zero.
        if isInteger, let integer = Int64(text), integer != 0 || bytes[start] != UInt8(ascii: "-") {
            return .int(integer)
        }
        guard let double = Double(text), double.isFinite else {
            position = start
            throw error("number \(text) is out of range")
        }
        return .double(double)
    }

    func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    func describe(_ byte: UInt8) -> String {
        if byte >= 0x20 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x" + String(byte, radix: 16, uppercase: true)
    }
}
