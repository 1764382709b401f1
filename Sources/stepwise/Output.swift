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
                return value.stringValue ?? value.serialized
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
            return "{\n" + members.map { key, member in inner + JSON.string(key.string).serialized + ": " + pretty(member, indent: inner) }
                .joined(separator: ",\n") + "\n\(indent)}"
        default:
            return value.serialized
        }
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var text = self
        while text.hasSuffix(" ") { text.removeLast() }
        return text
    }
}
