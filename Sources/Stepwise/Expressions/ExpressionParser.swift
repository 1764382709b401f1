/// A recursive-descent parser for the expression language (a small subset of CEL), shared by
/// ``EventExpression`` and ``EventCondition``.
///
/// It reads UTF-8 bytes, and reports positions in characters. Precedence, loosest first, as
/// in CEL: `?:`, `||`, `&&`, comparisons and `in`, `+ -`, `* / %`, unary `! -`, then member
/// access, indexing and calls. Binary operators associate to the left; `?:` to the right.
///
/// Bounds (``ExpressionLimits``): the text's length is checked before anything is read;
/// every construct that recurses counts one level of nesting; every node records its height
/// so that long operator chains, which the parser reads in a loop but the evaluator walks
/// recursively, are bounded too.
struct ExpressionParser {
    /// A node and the height of its tree (a literal or a root is 1).
    private struct Tree {
        let node: ExpressionNode
        let height: Int
    }

    private let text: String
    private let bytes: [UInt8]
    private let roots: [String]
    private let limits: ExpressionLimits
    private var position = 0
    /// Levels of nesting entered; the expression itself is level 0.
    private var nesting = -1
    /// How many more bytes ``jsonLiteral()`` may scan in all.
    private var jsonScanBudget: Int

    /// Parses `text`, whose paths may start only at one of `roots`.
    static func parse(_ text: String, roots: [String], limits: ExpressionLimits) throws(ExpressionParseError) -> ExpressionNode {
        var parser = ExpressionParser(text: text, roots: roots, limits: limits)
        return try parser.parseAll()
    }

    private init(text: String, roots: [String], limits: ExpressionLimits) {
        self.text = text
        self.bytes = text.utf8.count <= limits.maximumLength ? Array(text.utf8) : []
        self.roots = roots
        self.limits = limits
        self.jsonScanBudget = 2 * bytes.count + 1024
    }

    // MARK: - Errors

    private func error(_ reason: String, at offset: Int? = nil) -> ExpressionParseError {
        let offset = min(offset ?? position, bytes.count)
        let characters = String(decoding: bytes[0..<offset], as: UTF8.self).count
        return ExpressionParseError(expression: text, position: characters, reason: reason)
    }

    /// What is at the current position, for "expected …, found …" messages.
    private var found: String {
        guard position < bytes.count else { return "the end" }
        var end = position + 1
        while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
        return "'\(String(decoding: bytes[position..<end], as: UTF8.self))'"
    }

    private func make(_ node: ExpressionNode, _ children: Tree...) throws(ExpressionParseError) -> Tree {
        var height = 0
        for child in children { height = max(height, child.height) }
        height += 1
        guard height <= limits.maximumHeight else {
            throw error("more than \(limits.maximumHeight) operators nested")
        }
        return Tree(node: node, height: height)
    }

    private mutating func enter() throws(ExpressionParseError) {
        nesting += 1
        guard nesting <= limits.maximumNesting else { throw error("nested more than \(limits.maximumNesting) levels deep") }
    }

    private mutating func leave() {
        nesting -= 1
    }

    // MARK: - Tokens

    private mutating func skipSpaces() {
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0x0B, 0x0C: position += 1
            default: return
            }
        }
    }

    private func peek(_ offset: Int = 0) -> UInt8? {
        position + offset < bytes.count ? bytes[position + offset] : nil
    }

    /// Consumes `token` (an operator or punctuation) if it is next.
    private mutating func consume(_ token: StaticString) -> Bool {
        skipSpaces()
        let count = token.utf8CodeUnitCount
        guard position + count <= bytes.count else { return false }
        let matches = token.withUTF8Buffer { token in
            for index in 0..<count where bytes[position + index] != token[index] { return false }
            return true
        }
        guard matches else { return false }
        position += count
        return true
    }

    private mutating func expect(_ token: StaticString) throws(ExpressionParseError) {
        guard consume(token) else { throw error("expected '\(token)', found \(found)") }
    }

    private static func isIdentifierStart(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || byte == UInt8(ascii: "_") || byte >= 0x80
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func isIdentifierPart(_ byte: UInt8) -> Bool {
        isIdentifierStart(byte) || isDigit(byte)
    }

    /// An identifier (or, after a dot, a field name, which may start with a digit as the
    /// conditions before this parser allowed: `async.data.0`).
    private mutating func identifier(allowingLeadingDigit: Bool = false) -> String? {
        guard let first = peek(), Self.isIdentifierStart(first) || (allowingLeadingDigit && Self.isDigit(first)) else { return nil }
        let start = position
        while let byte = peek(), Self.isIdentifierPart(byte) { position += 1 }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// Consumes the keyword `in` if it is next and not the start of a longer name.
    private mutating func consumeIn() -> Bool {
        skipSpaces()
        guard peek() == UInt8(ascii: "i"), peek(1) == UInt8(ascii: "n") else { return false }
        if let next = peek(2), Self.isIdentifierPart(next) { return false }
        position += 2
        return true
    }

    // MARK: - Grammar

    private mutating func parseAll() throws(ExpressionParseError) -> ExpressionNode {
        let length = text.utf8.count
        guard length <= limits.maximumLength else {
            throw ExpressionParseError(
                expression: text, position: 0, reason: "the expression is \(length) bytes long, more than \(limits.maximumLength)")
        }
        let tree = try parseExpression()
        skipSpaces()
        guard position == bytes.count else { throw error("expected an operator or the end, found \(found)") }
        return tree.node
    }

    /// `or ('?' or ':' expression)?`
    private mutating func parseExpression() throws(ExpressionParseError) -> Tree {
        try enter()
        defer { leave() }
        let condition = try parseOr()
        guard consume("?") else { return condition }
        let then = try parseOr()
        try expect(":")
        let otherwise = try parseExpression()
        return try make(.conditional(condition.node, then.node, otherwise.node), condition, then, otherwise)
    }

    private mutating func parseOr() throws(ExpressionParseError) -> Tree {
        var tree = try parseAnd()
        while consume("||") {
            let right = try parseAnd()
            tree = try make(.or(tree.node, right.node), tree, right)
        }
        return tree
    }

    private mutating func parseAnd() throws(ExpressionParseError) -> Tree {
        var tree = try parseRelation()
        while consume("&&") {
            let right = try parseRelation()
            tree = try make(.and(tree.node, right.node), tree, right)
        }
        return tree
    }

    private mutating func relationOperator() -> ExpressionNode.BinaryOperator? {
        if consume("==") { return .equal }
        if consume("!=") { return .notEqual }
        if consume("<=") { return .lessOrEqual }
        if consume(">=") { return .greaterOrEqual }
        if consume("<") { return .less }
        if consume(">") { return .greater }
        if consumeIn() { return .in }
        return nil
    }

    private mutating func parseRelation() throws(ExpressionParseError) -> Tree {
        var tree = try parseAdditive()
        while let operation = relationOperator() {
            let right = try parseAdditive()
            tree = try make(.binary(operation, tree.node, right.node), tree, right)
        }
        return tree
    }

    private mutating func parseAdditive() throws(ExpressionParseError) -> Tree {
        var tree = try parseMultiplicative()
        while true {
            let operation: ExpressionNode.BinaryOperator
            if consume("+") { operation = .add } else if consume("-") { operation = .subtract } else { return tree }
            let right = try parseMultiplicative()
            tree = try make(.binary(operation, tree.node, right.node), tree, right)
        }
    }

    private mutating func parseMultiplicative() throws(ExpressionParseError) -> Tree {
        var tree = try parseUnary()
        while true {
            let operation: ExpressionNode.BinaryOperator
            if consume("*") {
                operation = .multiply
            } else if consume("/") {
                operation = .divide
            } else if consume("%") {
                operation = .remainder
            } else {
                return tree
            }
            let right = try parseUnary()
            tree = try make(.binary(operation, tree.node, right.node), tree, right)
        }
    }

    /// `('!' | '-')* postfix`, read in a loop so that a run of operators costs no stack.
    private mutating func parseUnary() throws(ExpressionParseError) -> Tree {
        var operators: [ExpressionNode.UnaryOperator] = []
        while true {
            skipSpaces()
            if peek() == UInt8(ascii: "!"), peek(1) != UInt8(ascii: "=") {
                operators.append(.not)
            } else if peek() == UInt8(ascii: "-") {
                operators.append(.negate)
            } else {
                break
            }
            position += 1
            guard operators.count <= limits.maximumNesting else { throw error("nested more than \(limits.maximumNesting) levels deep") }
        }
        var tree: Tree
        // A minus right before a number is the number's sign, so that the most negative
        // integer, whose magnitude does not fit, can be written.
        if operators.last == .negate, let digit = peek(), Self.isDigit(digit) {
            operators.removeLast()
            tree = try parsePostfix(negativeNumber: true)
        } else {
            tree = try parsePostfix(negativeNumber: false)
        }
        for operation in operators.reversed() {
            tree = try make(.unary(operation, tree.node), tree)
        }
        return tree
    }

    private mutating func parsePostfix(negativeNumber: Bool) throws(ExpressionParseError) -> Tree {
        var tree = try parsePrimary(negativeNumber: negativeNumber)
        while true {
            if consume(".") {
                skipSpaces()
                let start = position
                guard let name = identifier(allowingLeadingDigit: true) else { throw error("expected a field name, found \(found)") }
                skipSpaces()
                if peek() == UInt8(ascii: "(") {
                    guard let method = ExpressionNode.Method(rawValue: name) else {
                        throw error("unknown method '\(name)'; the methods are contains, startsWith and endsWith", at: start)
                    }
                    let argument = try parseArgument(of: "\(name)()")
                    tree = try make(.method(tree.node, method, argument.node), tree, argument)
                } else {
                    tree = try make(.field(tree.node, name), tree)
                }
            } else if consume("[") {
                let index = try parseExpression()
                try expect("]")
                tree = try make(.index(tree.node, index.node), tree, index)
            } else {
                return tree
            }
        }
    }

    /// `'(' expression ')'`, the one argument of a function or method.
    private mutating func parseArgument(of name: String) throws(ExpressionParseError) -> Tree {
        try expect("(")
        skipSpaces()
        if peek() == UInt8(ascii: ")") { throw error("\(name) takes one argument, found none") }
        let argument = try parseExpression()
        if consume(",") { throw error("\(name) takes one argument", at: position - 1) }
        try expect(")")
        return argument
    }

    private mutating func parsePrimary(negativeNumber: Bool) throws(ExpressionParseError) -> Tree {
        skipSpaces()
        guard let byte = peek() else { throw error("expected a value, found the end") }
        if negativeNumber || Self.isDigit(byte) { return try parseNumber(negative: negativeNumber) }
        switch byte {
        case UInt8(ascii: "("):
            position += 1
            let inner = try parseExpression()
            try expect(")")
            return inner
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            return try make(.literal(.string(parseString())))
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            if let literal = jsonLiteral() { return try make(.literal(literal)) }
            return byte == UInt8(ascii: "[") ? try parseList() : try parseMap()
        default:
            break
        }
        let start = position
        guard let name = identifier() else { throw error("expected a value, found \(found)") }
        switch name {
        case "true": return try make(.literal(.bool(true)))
        case "false": return try make(.literal(.bool(false)))
        case "null": return try make(.literal(.null))
        default: break
        }
        skipSpaces()
        if peek() == UInt8(ascii: "(") {
            if name == "has" {
                let argument = try parseArgument(of: "has()")
                switch argument.node {
                case .field, .index: return try make(.has(argument.node), argument)
                default: throw error("has() needs a field, such as has(event.data.x)", at: start)
                }
            }
            guard let function = ExpressionNode.Function(rawValue: name) else {
                throw error("unknown function '\(name)'; the functions are has, string, int and size", at: start)
            }
            let argument = try parseArgument(of: "\(name)()")
            return try make(.call(function, argument.node), argument)
        }
        guard roots.contains(name) else {
            let allowed = roots.map { "'\($0).'" }.joined(separator: " or ")
            throw error("unknown name '\(name)'; a path starts with \(allowed)", at: start)
        }
        return try make(.root(name))
    }

    /// `[a, b, …]`, with any expressions as elements.
    private mutating func parseList() throws(ExpressionParseError) -> Tree {
        try expect("[")
        var elements: [Tree] = []
        if !consume("]") {
            repeat {
                elements.append(try parseExpression())
            } while consume(",")
            try expect("]")
        }
        return try makeCollection(.list(elements.map(\.node)), elements)
    }

    /// `{"key": value, …}`, its keys string literals; a later duplicate key replaces an
    /// earlier one, as in JSON (which a JSON object written here is read as).
    private mutating func parseMap() throws(ExpressionParseError) -> Tree {
        try expect("{")
        var entries: [ExpressionNode.MapEntry] = []
        var values: [Tree] = []
        if !consume("}") {
            repeat {
                skipSpaces()
                guard peek() == UInt8(ascii: "\"") || peek() == UInt8(ascii: "'") else {
                    throw error("expected a string as the key, found \(found)")
                }
                let key = try parseString()
                try expect(":")
                let value = try parseExpression()
                entries.append(ExpressionNode.MapEntry(key: key, value: value.node))
                values.append(value)
            } while consume(",")
            try expect("}")
        }
        return try makeCollection(.map(entries), values)
    }

    private func makeCollection(_ node: ExpressionNode, _ children: [Tree]) throws(ExpressionParseError) -> Tree {
        let height = (children.map(\.height).max() ?? 0) + 1
        guard height <= limits.maximumHeight else { throw error("more than \(limits.maximumHeight) operators nested") }
        return Tree(node: node, height: height)
    }

    /// An array or object written as JSON (as a bound condition stores event values), read
    /// by the JSON parser: a payload may nest deeper than expressions may, and JSON text
    /// means the same as a literal in this language. `nil` when the text from here is not
    /// a JSON array or object, which is then read as a list or map of expressions.
    ///
    /// Finding where the JSON ends costs a scan, and a list of expressions nested in another
    /// is scanned again: a byte JSON does not allow outside a string (the `v` of `event`)
    /// ends a scan at once, and a budget of twice the text ends all scanning, so that the
    /// parse stays linear in the text whatever it holds.
    private mutating func jsonLiteral() -> JSON? {
        // Find the matching bracket without recursing, skipping JSON strings.
        let start = position
        var depth = 0
        var index = start
        var inString = false
        defer { jsonScanBudget -= index - start }
        while index < bytes.count, index - start < jsonScanBudget {
            let byte = bytes[index]
            if inString {
                if byte == UInt8(ascii: "\\") {
                    index += 1
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else {
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "["), UInt8(ascii: "{"): depth += 1
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    depth -= 1
                    if depth == 0 {
                        let candidate = String(decoding: bytes[start...index], as: UTF8.self)
                        guard let value = try? JSON(parsing: candidate) else { return nil }
                        position = index + 1
                        return value
                    }
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: ":"), UInt8(ascii: ","),
                     UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"),
                     UInt8(ascii: "E"), UInt8(ascii: "t"), UInt8(ascii: "r"), UInt8(ascii: "u"), UInt8(ascii: "f"), UInt8(ascii: "a"),
                     UInt8(ascii: "l"), UInt8(ascii: "s"), UInt8(ascii: "n"):
                    break
                default:
                    return nil
                }
            }
            index += 1
        }
        return nil
    }

    private mutating func parseNumber(negative: Bool) throws(ExpressionParseError) -> Tree {
        let start = position
        var isInteger = true
        while let byte = peek(), Self.isDigit(byte) { position += 1 }
        if peek() == UInt8(ascii: "."), let next = peek(1), Self.isDigit(next) {
            isInteger = false
            position += 1
            while let byte = peek(), Self.isDigit(byte) { position += 1 }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            var end = position + 1
            if end < bytes.count, bytes[end] == UInt8(ascii: "+") || bytes[end] == UInt8(ascii: "-") { end += 1 }
            if end < bytes.count, Self.isDigit(bytes[end]) {
                isInteger = false
                position = end
                while let byte = peek(), Self.isDigit(byte) { position += 1 }
            }
        }
        let digits = String(decoding: bytes[start..<position], as: UTF8.self)
        if let next = peek(), Self.isIdentifierPart(next) || next == UInt8(ascii: ".") {
            while let byte = peek(), Self.isIdentifierPart(byte) || byte == UInt8(ascii: ".") { position += 1 }
            throw error("'\(String(decoding: bytes[start..<position], as: UTF8.self))' is not a number", at: start)
        }
        let literal = (negative ? "-" : "") + digits
        if isInteger {
            guard let value = Int64(literal) else { throw error("the integer \(literal) does not fit in 64 bits", at: start) }
            return try make(.literal(.int(value)))
        }
        guard let value = Double(literal), value.isFinite else { throw error("the number \(literal) is out of range", at: start) }
        return try make(.literal(.double(value)))
    }

    /// A string in single or double quotes, with CEL's escapes (which include JSON's).
    private mutating func parseString() throws(ExpressionParseError) -> String {
        let start = position
        let quote = bytes[position]
        position += 1
        var decoded: [UInt8] = []
        while position < bytes.count {
            let byte = bytes[position]
            if byte == quote {
                position += 1
                return String(decoding: decoded, as: UTF8.self)
            }
            guard byte == UInt8(ascii: "\\") else {
                decoded.append(byte)
                position += 1
                continue
            }
            let escapeStart = position
            position += 1
            guard let escaped = peek() else { break }
            position += 1
            switch escaped {
            case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "/"), UInt8(ascii: "`"), UInt8(ascii: "?"):
                decoded.append(escaped)
            case UInt8(ascii: "n"): decoded.append(0x0A)
            case UInt8(ascii: "r"): decoded.append(0x0D)
            case UInt8(ascii: "t"): decoded.append(0x09)
            case UInt8(ascii: "b"): decoded.append(0x08)
            case UInt8(ascii: "f"): decoded.append(0x0C)
            case UInt8(ascii: "v"): decoded.append(0x0B)
            case UInt8(ascii: "a"): decoded.append(0x07)
            case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                let count = escaped == UInt8(ascii: "x") ? 2 : (escaped == UInt8(ascii: "u") ? 4 : 8)
                var value = try hexValue(digits: count, escapeStart: escapeStart)
                if (0xD800...0xDBFF).contains(value) {
                    // A UTF-16 surrogate pair, as JSON writes characters outside the BMP.
                    guard peek() == UInt8(ascii: "\\"), peek(1) == UInt8(ascii: "u") else {
                        throw error("invalid escape: a lone surrogate", at: escapeStart)
                    }
                    position += 2
                    let low = try hexValue(digits: 4, escapeStart: escapeStart)
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid escape: a lone surrogate", at: escapeStart) }
                    value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(value) else { throw error("invalid escape: not a Unicode scalar", at: escapeStart) }
                decoded.append(contentsOf: String(scalar).utf8)
            default:
                position = escapeStart + 1
                throw error("invalid escape '\\\(found.dropFirst().dropLast())'", at: escapeStart)
            }
        }
        throw error("unterminated string", at: start)
    }

    private mutating func hexValue(digits: Int, escapeStart: Int) throws(ExpressionParseError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<digits {
            guard let byte = peek() else { throw error("invalid escape: expected \(digits) hex digits", at: escapeStart) }
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("invalid escape: expected \(digits) hex digits", at: escapeStart)
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }
}
