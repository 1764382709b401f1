import Foundation
import Stepwise

/// How the tool prints records.
enum Output {
    /// A listing: a table of `columns`, then the cursor of the next page; or its JSON.
    static func listing(_ page: JSON, json: Bool, columns: [String]) {
        if json {
            print(pretty(page))
            return
        }
        let rows = (page["data"]?.arrayValue ?? []).map { record in
            columns.map { column -> String in
                guard let value = record[column], !value.isNull else { return "-" }
                return printable(value.stringValue ?? value.serialized)
            }
        }
        let widths = columns.indices.map { index in ([columns[index]] + rows.map { $0[index] }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { cell, width in cell.padding(toLength: width, withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingTrailingSpaces
        }
        print(line(columns.map { $0.uppercased() }))
        rows.forEach { print(line($0)) }
        if let cursor = page["cursor"]?.stringValue {
            print("more: --cursor \(cursor)")
        }
    }

    /// JSON indented two spaces a level, keys in their stored order.
    static func pretty(_ value: JSON, indent: String = "") -> String {
        let inner = indent + "  "
        switch value {
        case .array(let elements) where !elements.isEmpty:
            return "[\n" + elements.map { inner + pretty($0, indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let members) where !members.isEmpty:
            return "{\n" + members.map { key, member in inner + quoted(key.string) + ": " + pretty(member, indent: inner) }
                .joined(separator: ",\n") + "\n\(indent)}"
        case .string(let text):
            return quoted(text)
        default:
            return value.serialized
        }
    }

    /// A string as JSON, with every character a terminal could act on escaped: JSON escapes
    /// only C0 controls, but DEL, C1 controls (U+009B starts an escape sequence on many
    /// terminals), bidirectional overrides and line separators in stored data could rewrite
    /// what the screen shows. `\uXXXX` keeps the output valid JSON.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if isUnprintable(scalar) {
                    out += escapedUTF16(scalar)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Text from stored data (or another server) made safe to print on a terminal: every
    /// unprintable character is written as `\u{XXXX}`.
    static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isUnprintable) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if isUnprintable(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Controls (C0, DEL, C1), format characters (bidirectional overrides, invisible
    /// marks) and line or paragraph separators.
    static func isUnprintable(_ scalar: Unicode.Scalar) -> Bool {
        // Zero-width joiners and non-joiners shape emoji and scripts, and move no text.
        if scalar == "\u{200C}" || scalar == "\u{200D}" { return false }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    private static func escapedUTF16(_ scalar: Unicode.Scalar) -> String {
        String(scalar).utf16.map { unit in
            let hex = String(unit, radix: 16, uppercase: false)
            return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        }.joined()
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var text = self
        while text.hasSuffix(" ") { text.removeLast() }
        return text
    }
}
