extension String {
    /// The first control character (Unicode general category Cc: U+0000–U+001F and
    /// U+007F–U+009F) in the string, or `nil` when there is none.
    ///
    /// Names and ids are printed by logs, the CLI and dashboards: an escape sequence or a
    /// newline hidden in one could rewrite a terminal or forge a log line, and a NUL cuts the
    /// text short in C APIs. The scan reads the UTF-8 bytes once, without decoding: every Cc
    /// scalar is one byte below 0x20, 0x7F, or the two bytes 0xC2 0x80–0x9F.
    var firstControlCharacter: Unicode.Scalar? {
        var previous: UInt8 = 0
        for byte in utf8 {
            if byte < 0x20 || byte == 0x7F { return Unicode.Scalar(byte) }
            if previous == 0xC2, (0x80...0x9F).contains(byte) { return Unicode.Scalar(byte) }
            previous = byte
        }
        return nil
    }
}

extension Unicode.Scalar {
    /// The scalar as `U+001B`, the way error messages name a character that cannot be shown.
    var codePointDescription: String {
        let hex = String(value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
