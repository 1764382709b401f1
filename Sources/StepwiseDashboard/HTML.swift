/// A piece of HTML that is safe to send: escaping by construction.
///
/// The only ways to make one are a string literal written in this module's source (trusted
/// markup), ``text(_:)`` (escaped), and interpolation, which escapes every `String` (or any
/// other value) and inserts only another `HTML` as it is. So a payload holding `<script>`
/// reaches the page as `&lt;script&gt;`, and no page can forget to escape: the compiler refuses
/// to put a `String` where markup goes.
///
/// ```swift
/// let name = "<script>alert(1)</script>"
/// let row: HTML = "<td>\(name)</td>"   // <td>&lt;script&gt;alert(1)&lt;/script&gt;</td>
/// ```
struct HTML: Sendable, Hashable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The markup, escaped where it came from values.
    private(set) var rendered: String

    private init(rendered: String) {
        self.rendered = rendered
    }

    /// Nothing.
    static let empty = HTML(rendered: "")

    /// Markup written in this module's source: a literal is trusted, as its author wrote it.
    init(stringLiteral value: StaticString) {
        rendered = value.description
    }

    init(stringInterpolation: Interpolation) {
        rendered = stringInterpolation.rendered
    }

    /// Text, escaped for an element's content or a quoted attribute's value.
    static func text(_ value: some StringProtocol) -> HTML {
        HTML(rendered: escape(value))
    }

    /// The pieces, one after the other.
    static func join(_ pieces: some Sequence<HTML>, separator: HTML = .empty) -> HTML {
        HTML(rendered: pieces.map(\.rendered).joined(separator: separator.rendered))
    }

    var description: String { rendered }

    /// Escapes the five characters that can end a text node or a quoted attribute, so that the
    /// text is text in both places.
    static func escape(_ value: some StringProtocol) -> String {
        var escaped = ""
        escaped.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    /// Literal segments go in as written; every interpolated value is escaped, unless it is
    /// `HTML` already.
    struct Interpolation: StringInterpolationProtocol {
        var rendered = ""

        init(literalCapacity: Int, interpolationCount: Int) {
            rendered.reserveCapacity(literalCapacity + 16 * interpolationCount)
        }

        mutating func appendLiteral(_ literal: StaticString) {
            rendered += literal.description
        }

        mutating func appendInterpolation(_ html: HTML) {
            rendered += html.rendered
        }

        mutating func appendInterpolation(_ html: HTML?) {
            if let html { rendered += html.rendered }
        }

        mutating func appendInterpolation(_ pieces: [HTML]) {
            for piece in pieces { rendered += piece.rendered }
        }

        mutating func appendInterpolation(_ value: some StringProtocol) {
            rendered += HTML.escape(value)
        }

        mutating func appendInterpolation(_ value: some CustomStringConvertible) {
            rendered += HTML.escape(value.description)
        }
    }
}
