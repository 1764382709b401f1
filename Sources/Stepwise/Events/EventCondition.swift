/// A condition on events, for `waitForEvent(if:)` and `cancelOn(if:)`: a small expression
/// in the style of Inngest's, such as
///
/// ```
/// async.data.amount >= 100 && async.data.userId == event.data.userId
/// ```
///
/// `event` is the run's triggering event and `async` the incoming one; paths walk their JSON
/// (`name`, `data…`, `user…`). Comparisons are `==`, `!=`, `<`, `<=`, `>`, `>=` (ordering works
/// on two numbers or two strings and is false otherwise); `&&`, `||`, `!` and parentheses
/// combine them; literals are strings in single or double quotes, numbers, `true`, `false`
/// and `null`. A missing field reads as `null`.
///
/// `event` paths are replaced by their values when the run registers the condition, so what
/// is stored refers only to the incoming event.
public struct EventCondition: Sendable, Hashable, CustomStringConvertible {
    indirect enum Node: Sendable, Hashable {
        case literal(JSON)
        case path(root: String, components: [String])
        case not(Node)
        case and(Node, Node)
        case or(Node, Node)
        case compare(Node, Comparison, Node)
    }

    enum Comparison: String, Sendable, Hashable {
        case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
    }

    let root: Node

    /// Parses a condition.
    /// - Throws: ``EventConditionError`` with the position of the problem.
    public init(_ text: String) throws(EventConditionError) {
        var parser = ConditionParser(text: text)
        root = try parser.parse()
    }

    init(root: Node) {
        self.root = root
    }

    /// The condition with every `event.…` path replaced by its value in `event` (an event's
    /// envelope: `name`, `data`, `user`).
    func binding(event: JSON) -> EventCondition {
        EventCondition(root: Self.bind(root, event: event))
    }

    /// Whether the incoming event (its envelope) satisfies the condition; `event` paths not
    /// bound read from `triggering`.
    func isSatisfied(by incoming: JSON, triggering: JSON = .null) -> Bool {
        Self.truth(Self.value(root, incoming: incoming, triggering: triggering))
    }

    public var description: String { Self.text(root) }

    private static func bind(_ node: Node, event: JSON) -> Node {
        switch node {
        case .path("event", let components):
            return .literal(event.value(atPath: components.joined(separator: ".")) ?? .null)
        case .literal, .path:
            return node
        case .not(let inner):
            return .not(bind(inner, event: event))
        case .and(let left, let right):
            return .and(bind(left, event: event), bind(right, event: event))
        case .or(let left, let right):
            return .or(bind(left, event: event), bind(right, event: event))
        case .compare(let left, let comparison, let right):
            return .compare(bind(left, event: event), comparison, bind(right, event: event))
        }
    }

    private static func value(_ node: Node, incoming: JSON, triggering: JSON) -> JSON {
        switch node {
        case .literal(let value):
            return value
        case .path(let root, let components):
            let source = root == "async" ? incoming : triggering
            return source.value(atPath: components.joined(separator: ".")) ?? .null
        case .not(let inner):
            return .bool(!truth(value(inner, incoming: incoming, triggering: triggering)))
        case .and(let left, let right):
            return .bool(truth(value(left, incoming: incoming, triggering: triggering)) && truth(value(right, incoming: incoming, triggering: triggering)))
        case .or(let left, let right):
            return .bool(truth(value(left, incoming: incoming, triggering: triggering)) || truth(value(right, incoming: incoming, triggering: triggering)))
        case .compare(let left, let comparison, let right):
            return .bool(compare(value(left, incoming: incoming, triggering: triggering), comparison, value(right, incoming: incoming, triggering: triggering)))
        }
    }

    private static func compare(_ left: JSON, _ comparison: Comparison, _ right: JSON) -> Bool {
        switch comparison {
        case .equal: return left == right
        case .notEqual: return left != right
        default: break
        }
        let order: Int
        if let a = left.doubleValue, let b = right.doubleValue {
            order = a < b ? -1 : (a > b ? 1 : 0)
        } else if let a = left.stringValue, let b = right.stringValue {
            order = a < b ? -1 : (a > b ? 1 : 0)
        } else {
            return false
        }
        switch comparison {
        case .less: return order < 0
        case .lessOrEqual: return order <= 0
        case .greater: return order > 0
        case .greaterOrEqual: return order >= 0
        case .equal, .notEqual: return false
        }
    }

    private static func truth(_ value: JSON) -> Bool {
        switch value {
        case .bool(let flag): return flag
        case .null: return false
        default: return true
        }
    }

    private static func text(_ node: Node) -> String {
        switch node {
        case .literal(let value): return value.serialized
        case .path(let root, let components): return ([root] + components).joined(separator: ".")
        case .not(let inner): return "!(\(text(inner)))"
        case .and(let left, let right): return "(\(text(left)) && \(text(right)))"
        case .or(let left, let right): return "(\(text(left)) || \(text(right)))"
        case .compare(let left, let comparison, let right): return "\(text(left)) \(comparison.rawValue) \(text(right))"
        }
    }
}

/// Why a condition could not be read.
public struct EventConditionError: Error, Sendable, Hashable, CustomStringConvertible {
    public let condition: String
    /// The character offset at which reading stopped.
    public let offset: Int
    public let reason: String
    public var description: String { "invalid condition '\(condition)' at \(offset): \(reason)" }
}

/// A recursive-descent parser for ``EventCondition``.
private struct ConditionParser {
    let text: String
    let characters: [Character]
    var position = 0
    var depth = 0

    init(text: String) {
        self.text = text
        self.characters = Array(text)
    }

    func error(_ reason: String) -> EventConditionError {
        EventConditionError(condition: text, offset: position, reason: reason)
    }

    mutating func parse() throws(EventConditionError) -> EventCondition.Node {
        let node = try parseOr()
        skipSpaces()
        guard position == characters.count else { throw error("unexpected '\(characters[position])'") }
        return node
    }

    mutating func skipSpaces() {
        while position < characters.count, characters[position].isWhitespace { position += 1 }
    }

    mutating func consume(_ token: String) -> Bool {
        skipSpaces()
        let token = Array(token)
        guard position + token.count <= characters.count, Array(characters[position..<position + token.count]) == token else { return false }
        position += token.count
        return true
    }

    mutating func parseOr() throws(EventConditionError) -> EventCondition.Node {
        var node = try parseAnd()
        while consume("||") { node = .or(node, try parseAnd()) }
        return node
    }

    mutating func parseAnd() throws(EventConditionError) -> EventCondition.Node {
        var node = try parseNot()
        while consume("&&") { node = .and(node, try parseNot()) }
        return node
    }

    mutating func parseNot() throws(EventConditionError) -> EventCondition.Node {
        skipSpaces()
        if position < characters.count, characters[position] == "!", position + 1 >= characters.count || characters[position + 1] != "=" {
            position += 1
            return .not(try parseNot())
        }
        return try parseComparison()
    }

    mutating func parseComparison() throws(EventConditionError) -> EventCondition.Node {
        let left = try parsePrimary()
        for comparison in [EventCondition.Comparison.equal, .notEqual, .lessOrEqual, .greaterOrEqual, .less, .greater] where consume(comparison.rawValue) {
            return .compare(left, comparison, try parsePrimary())
        }
        return left
    }

    mutating func parsePrimary() throws(EventConditionError) -> EventCondition.Node {
        skipSpaces()
        guard position < characters.count else { throw error("unexpected end, expected a value") }
        let character = characters[position]
        if character == "(" {
            depth += 1
            guard depth <= 64 else { throw error("nested too deeply") }
            position += 1
            let node = try parseOr()
            guard consume(")") else { throw error("expected ')'") }
            depth -= 1
            return node
        }
        if character == "\"" || character == "'" {
            position += 1
            var value = ""
            while position < characters.count, characters[position] != character {
                if characters[position] == "\\", position + 1 < characters.count { position += 1 }
                value.append(characters[position])
                position += 1
            }
            guard position < characters.count else { throw error("unterminated string") }
            position += 1
            return .literal(.string(value))
        }
        if character.isNumber || character == "-" {
            let start = position
            position += 1
            while position < characters.count, characters[position].isNumber || characters[position] == "." || characters[position] == "e" || characters[position] == "E" {
                position += 1
            }
            let literal = String(characters[start..<position])
            guard let number = try? JSON(parsing: literal), number.doubleValue != nil else { throw error("'\(literal)' is not a number") }
            return .literal(number)
        }
        guard character.isLetter || character == "_" else { throw error("unexpected '\(character)'") }
        var components: [String] = []
        var current = ""
        while position < characters.count, characters[position].isLetter || characters[position].isNumber || characters[position] == "_" || characters[position] == "." {
            if characters[position] == "." {
                components.append(current)
                current = ""
            } else {
                current.append(characters[position])
            }
            position += 1
        }
        components.append(current)
        switch components {
        case ["true"]: return .literal(.bool(true))
        case ["false"]: return .literal(.bool(false))
        case ["null"]: return .literal(.null)
        default: break
        }
        guard let root = components.first, root == "event" || root == "async", components.count > 1, !components.contains("") else {
            throw error("a path must start with 'event.' or 'async.', not '\(components.joined(separator: "."))'")
        }
        return .path(root: root, components: Array(components.dropFirst()))
    }
}
