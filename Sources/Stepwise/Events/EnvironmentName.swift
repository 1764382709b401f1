/// The rules an environment's name follows wherever it enters Stepwise: a client's
/// configuration, `send(_:environment:idSeed:)`, the Event API's `x-inngest-env` header.
///
/// Names are identities, not text to display. Two spellings that Swift's `String` calls equal
/// (a precomposed `é` and `e` followed by a combining accent) are different names, because the
/// store compares bytes: the gate that admits a name and the store that files events under it
/// must agree, or a name admitted as a configured one is stored as another. So names are
/// compared by their Unicode scalars (``same(_:_:)``), and measured in UTF-8 bytes, which is
/// what they cost in a header and in the store.
public enum EnvironmentName {
    /// The longest name accepted, in UTF-8 bytes: a branch name with room to spare.
    public static let maximumUTF8Length = 256

    /// Checks `name` against the rules: 1 to ``maximumUTF8Length`` bytes of UTF-8, no control
    /// characters (NUL, BEL, ESC, newlines and the other C0 and C1 controls, line and paragraph
    /// separators), and no U+FFFD, which is what invalid UTF-8 becomes once decoded: a name that
    /// arrived mangled is refused rather than filed under its mangled spelling.
    ///
    /// - Throws: ``EnvironmentNameError`` saying which rule the name breaks.
    public static func validate(_ name: String) throws(EnvironmentNameError) {
        let length = name.utf8.count
        guard length > 0 else { throw EnvironmentNameError(reason: "must not be empty") }
        guard length <= maximumUTF8Length else {
            throw EnvironmentNameError(reason: "is \(length) bytes of UTF-8; the limit is \(maximumUTF8Length)")
        }
        for scalar in name.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .lineSeparator, .paragraphSeparator:
                throw EnvironmentNameError(reason: "must not contain control characters (found \(escaped(scalar)))")
            default:
                if scalar == "\u{FFFD}" {
                    throw EnvironmentNameError(reason: "is not valid UTF-8 (found U+FFFD, the replacement character)")
                }
            }
        }
    }

    /// Whether `a` and `b` are the same name: the same Unicode scalars, not merely canonically
    /// equivalent strings.
    public static func same(_ a: String, _ b: String) -> Bool {
        a.utf8.elementsEqual(b.utf8)
    }

    /// A name as a key for sets and dictionaries that must not merge equivalent spellings.
    package static func key(_ name: String) -> [UInt8] {
        Array(name.utf8)
    }

    private static func escaped(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
