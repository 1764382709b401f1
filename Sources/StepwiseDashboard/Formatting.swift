import Foundation
import Stepwise
import StepwiseHTTP

/// How the pages write times, durations and JSON: one place, so that every page reads alike.
enum Formatting {
    /// A time in milliseconds since the epoch, as RFC 3339 in UTC with milliseconds.
    static func time(_ milliseconds: Int64?) -> String {
        guard let milliseconds else { return "—" }
        return RESTRepresentation.time(milliseconds).stringValue ?? "\(milliseconds)"
    }

    /// A duration in milliseconds, in the largest unit that keeps it short.
    static func duration(_ milliseconds: Int64) -> String {
        let value = max(0, milliseconds)
        switch value {
        case ..<1000: return "\(value) ms"
        case ..<60_000: return String(format: "%.2f s", Double(value) / 1000)
        case ..<3_600_000: return "\(value / 60_000) min \(value % 60_000 / 1000) s"
        default: return "\(value / 3_600_000) h \(value % 3_600_000 / 60_000) min"
        }
    }

    /// JSON indented two spaces a level, keys in their stored order: the text of a `<pre>`,
    /// which ``HTML`` escapes.
    static func pretty(_ value: JSON, indent: String = "") -> String {
        let inner = indent + "  "
        switch value {
        case .array(let elements) where !elements.isEmpty:
            return "[\n" + elements.map { inner + pretty($0, indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let members) where !members.isEmpty:
            return "{\n" + members.map { key, member in inner + JSON.string(key.string).serialized + ": " + pretty(member, indent: inner) }
                .joined(separator: ",\n") + "\n\(indent)}"
        default:
            return value.serialized
        }
    }

    /// A short one-line preview of a JSON value, at most `limit` characters.
    static func preview(_ value: JSON, limit: Int = 120) -> String {
        let text = value.serialized
        return text.count > limit ? String(text.prefix(limit)) + "…" : text
    }
}
