/// The form of a request path that may go into a log: everything after the Event API's `e`
/// segment is cut, because that is where a sender puts its event key.
///
/// The rule is structural, not a pattern for the key: whatever follows the first segment that
/// reads as `e` is replaced by `***`, however many segments (empty ones included, as in
/// `/e//KEY`) and whatever the route. A segment reads as `e` in any case and in any
/// percent-encoding (`/E/KEY`, `/%65/KEY`, `/e%2FKEY`), so that a wrong guess at the path, which
/// no route answers, leaks its key no more than a right one. Nothing after the cut is decoded
/// or echoed, so a path cannot put control characters into a log line through it either.
enum PathRedaction {
    static func redacted(_ path: String) -> String {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for (index, segment) in segments.enumerated() {
            let decoded = decodedLowercased(segment)
            guard decoded == "e" || decoded.hasPrefix("e/") else { continue }
            let prefix = segments[..<index].joined(separator: "/")
            let isLast = index == segments.count - 1
            // `/e` and `/e/` carry no key; anything else after the segment might.
            if decoded == "e" && (isLast || (index == segments.count - 2 && segments[index + 1].isEmpty)) {
                return prefix + "/e" + (isLast ? "" : "/")
            }
            return prefix + "/e/***"
        }
        return path
    }

    /// The segment percent-decoded and lowercased as ASCII, for comparison only; a malformed
    /// escape is kept as it is.
    private static func decodedLowercased(_ segment: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = segment.utf8[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let high = hexValue(utf8[utf8.startIndex]), let low = hexValue(utf8[utf8.index(after: utf8.startIndex)])
            {
                bytes.append(high << 4 | low)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes.map { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) ? $0 + 32 : $0 }, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
