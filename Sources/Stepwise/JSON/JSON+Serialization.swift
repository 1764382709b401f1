extension JSON {
    /// The value as compact JSON text: no insignificant whitespace, object keys in their
    /// order, non-ASCII characters written as UTF-8 rather than escaped.
    public var serialized: String {
        var output: [UInt8] = []
        output.reserveCapacity(64)
        write(to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// The value as compact JSON text in UTF-8 bytes. See ``serialized``.
    public var serializedUTF8: [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(64)
        write(to: &output)
        return output
    }

    /// The value as compact JSON text, and how deeply it nests (see ``nestingDepth``),
    /// measured by the same pass: for boundaries that must check the depth of what they
    /// serialize anyway.
    func serializedMeasuringDepth() -> (text: String, depth: Int) {
        var output: [UInt8] = []
        output.reserveCapacity(64)
        var deepest = 0
        write(to: &output, depth: 0, deepest: &deepest)
        return (String(decoding: output, as: UTF8.self), deepest)
    }

    func write(to output: inout [UInt8]) {
        var deepest = 0
        write(to: &output, depth: 0, deepest: &deepest)
    }

    /// Writes the value at `depth` levels of nesting, raising `deepest` to the deepest level
    /// of arrays and objects written.
    private func write(to output: inout [UInt8], depth: Int, deepest: inout Int) {
        switch self {
        case .null:
            output.append(contentsOf: "null".utf8)
        case .bool(let value):
            output.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value):
            output.append(contentsOf: String(value).utf8)
        case .double(let value):
            JSON.writeDouble(value, to: &output)
        case .string(let value):
            JSON.writeString(value, to: &output)
        case .array(let elements):
            if depth >= deepest { deepest = depth + 1 }
            output.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                element.write(to: &output, depth: depth + 1, deepest: &deepest)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            if depth >= deepest { deepest = depth + 1 }
            output.append(UInt8(ascii: "{"))
            var first = true
            for (key, value) in members {
                if !first { output.append(UInt8(ascii: ",")) }
                first = false
                JSON.writeString(key.string, to: &output)
                output.append(UInt8(ascii: ":"))
                value.write(to: &output, depth: depth + 1, deepest: &deepest)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Swift's description of a double is the shortest text that parses back to the same
    /// value, which is what makes doubles round-trip exactly. Non-finite values have no JSON
    /// spelling; they cannot come from parsing, and are written as `null` if built by hand.
    static func writeDouble(_ value: Double, to output: inout [UInt8]) {
        guard value.isFinite else {
            output.append(contentsOf: "null".utf8)
            return
        }
        output.append(contentsOf: value.description.utf8)
    }

    static func writeString(_ value: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        // Most strings need no escape: copy runs of plain bytes at once, byte by byte only
        // around the bytes that need one. Native strings are contiguous UTF-8.
        let copied: Void? = value.utf8.withContiguousStorageIfAvailable { bytes in
            var runStart = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if runStart < index { output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index])) }
                writeEscaped(byte, to: &output)
                runStart = index + 1
            }
            if runStart < bytes.count { output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...])) }
        }
        if copied == nil {
            for byte in value.utf8 { writeEscaped(byte, to: &output) }
        }
        output.append(UInt8(ascii: "\""))
    }

    /// One byte of a string, escaped if JSON requires it.
    @inline(__always)
    private static func writeEscaped(_ byte: UInt8, to output: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""):
            output.append(UInt8(ascii: "\\"))
            output.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"):
            output.append(UInt8(ascii: "\\"))
            output.append(UInt8(ascii: "\\"))
        case 0x0A:
            output.append(UInt8(ascii: "\\"))
            output.append(UInt8(ascii: "n"))
        case 0x0D:
            output.append(UInt8(ascii: "\\"))
            output.append(UInt8(ascii: "r"))
        case 0x09:
            output.append(UInt8(ascii: "\\"))
            output.append(UInt8(ascii: "t"))
        case 0x00..<0x20:
            output.append(contentsOf: "\\u00".utf8)
            output.append(hexDigit(byte >> 4))
            output.append(hexDigit(byte & 0x0F))
        default:
            output.append(byte)
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    /// The length in bytes of `value` written as a JSON string, quotes included, without
    /// writing it: used to measure an event's size against the limits cheaply.
    static func serializedLength(ofString value: String) -> Int {
        var length = 2
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x0A, 0x0D, 0x09: length += 2
            case 0x00..<0x20: length += 6
            default: length += 1
            }
        }
        return length
    }
}

extension JSON: CustomStringConvertible {
    public var description: String { serialized }
}
