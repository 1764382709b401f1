import Testing
@_spi(StoreImplementation) @testable import Stepwise

@Suite("Expressions: parsing")
struct ExpressionParsingTests {
    @Test("malformed expressions are refused with the position and what was expected", arguments: [
        ("", 0, "expected a value, found the end"),
        ("event.data.x == (1", 18, "expected ')', found the end"),
        ("event.data.x ==", 15, "expected a value, found the end"),
        ("data.x == 1", 0, "unknown name 'data'; a path starts with 'event.'"),
        ("async.data.x == 1", 0, "unknown name 'async'; a path starts with 'event.'"),
        ("event.data.x == 'open", 16, "unterminated string"),
        ("event.data.x === 1", 15, "expected a value, found '='"),
        ("event. == 1", 7, "expected a field name, found '='"),
        ("1 @ 2", 2, "expected an operator or the end, found '@'"),
        ("event.data.x & 1", 13, "expected an operator or the end, found '&'"),
        ("event.data.x = 1", 13, "expected an operator or the end, found '='"),
        ("lower(event.name)", 0, "unknown function 'lower'; the functions are has, string, int and size"),
        ("event.name.upper()", 11, "unknown method 'upper'; the methods are contains, startsWith and endsWith"),
        ("has(event)", 0, "has() needs a field, such as has(event.data.x)"),
        ("has(1)", 0, "has() needs a field, such as has(event.data.x)"),
        ("int()", 4, "int() takes one argument, found none"),
        ("int(1, 2)", 5, "int() takes one argument"),
        ("string(1", 8, "expected ')', found the end"),
        ("'\\q'", 1, "invalid escape '\\q'"),
        ("'\\u12'", 1, "invalid escape: expected 4 hex digits"),
        ("'\\ud800'", 1, "invalid escape: a lone surrogate"),
        ("9223372036854775808", 0, "the integer 9223372036854775808 does not fit in 64 bits"),
        ("1e400", 0, "the number 1e400 is out of range"),
        ("12abc", 0, "'12abc' is not a number"),
        ("1.2.3", 0, "'1.2.3' is not a number"),
        ("[1, 2", 5, "expected ']', found the end"),
        ("[1 2]", 3, "expected ']', found '2'"),
        ("{\"a\" 1}", 5, "expected ':', found '1'"),
        ("{1: 2}", 1, "expected a string as the key, found '1'"),
        ("true ? 1", 8, "expected ':', found the end"),
        // As in CEL, a `?:` inside the middle branch needs parentheses.
        ("true ? false ? 1 : 2 : 3", 13, "expected ':', found '?'"),
        ("event.data[1", 12, "expected ']', found the end"),
        ("!", 1, "expected a value, found the end"),
        ("(", 1, "expected a value, found the end"),
        ("event.data.x )", 13, "expected an operator or the end, found ')'"),
        ("\"é\" == event.x @", 15, "expected an operator or the end, found '@'"),
        ("event.data.-x", 11, "expected a field name, found '-'"),
        ("in", 0, "unknown name 'in'; a path starts with 'event.'"),
        ("event.data.x in", 15, "expected a value, found the end"),
    ])
    func malformed(text: String, position: Int, reason: String) {
        #expect(throws: ExpressionParseError(expression: text, position: position, reason: reason)) {
            try EventExpression(parsing: text)
        }
        #expect(throws: ExpressionParseError(expression: text, position: position, reason: reason)) {
            try EventExpression.validate(text)
        }
    }

    @Test("the message names the reason, the position and the expression")
    func message() {
        let error = ExpressionParseError(expression: "event.data.x == (1", position: 18, reason: "expected ')', found the end")
        #expect(error.description == "expected ')', found the end at 18 in \"event.data.x == (1\"")
        let long = ExpressionParseError(expression: String(repeating: "a", count: 300), position: 0, reason: "r")
        #expect(long.description == "r at 0 in \"\(String(repeating: "a", count: 200))…\"")
    }

    @Test("a literal that does not parse is reported by validate(), and evaluating it throws")
    func literalValidation() throws {
        let good: EventExpression = "event.data.customerId"
        try good.validate()
        let bad: EventExpression = "event.data.x =="
        #expect(throws: ExpressionParseError(expression: "event.data.x ==", position: 15, reason: "expected a value, found the end")) {
            try bad.validate()
        }
        #expect(throws: ExpressionEvaluationError.self) { try bad.evaluate(event: .emptyObject) }
        #expect(bad.description == "event.data.x ==")
    }

    @Test("expressions are equal when their texts are")
    func equality() throws {
        #expect(try EventExpression(parsing: "event.data.x") == "event.data.x")
        #expect(try EventExpression(parsing: "event.data.x") != EventExpression(parsing: "event.data.x "))
        #expect(Set<EventExpression>(["a.b", "a.b", "event.x"]).count == 2)
    }

    @Test("text longer than the limit is refused before it is read, however long")
    func tooLong() throws {
        let limit = EventExpression.maximumLength
        #expect(limit == 1024)
        let exact = "'" + String(repeating: "a", count: limit - 2) + "'"
        _ = try EventExpression(parsing: exact)
        let over = "'" + String(repeating: "a", count: limit - 1) + "'"
        #expect(throws: ExpressionParseError(expression: over, position: 0, reason: "the expression is 1025 bytes long, more than 1024")) {
            try EventExpression(parsing: over)
        }
        // Bytes, not characters: 512 two-byte characters fill the limit.
        #expect(throws: ExpressionParseError.self) { try EventExpression(parsing: "'" + String(repeating: "é", count: 512) + "'") }

        // Caught by hand: #expect would describe the error's text, all 20 MB of it.
        let huge = String(repeating: "(", count: 20_000_000)
        let hugeCondition = huge + huge
        var refusals = 0
        let elapsed = ContinuousClock().measure {
            do { _ = try EventExpression(parsing: huge) } catch { refusals += 1 }
            do { _ = try EventCondition(hugeCondition) } catch { refusals += 1 }
        }
        #expect(refusals == 2)
        #expect(elapsed < .milliseconds(100), "refused in \(elapsed)")
    }

    @Test("nesting is bounded: 64 levels of parentheses, brackets, calls or operators are read, 65 refused")
    func nesting() throws {
        let limit = EventExpression.maximumNesting
        #expect(limit == 64)
        func parens(_ count: Int) -> String { String(repeating: "(", count: count) + "1" + String(repeating: ")", count: count) }
        func lists(_ count: Int) -> String { String(repeating: "[event.x, ", count: count) + "1" + String(repeating: "]", count: count) }
        func calls(_ count: Int) -> String { String(repeating: "int(", count: count) + "1" + String(repeating: ")", count: count) }
        func nots(_ count: Int) -> String { String(repeating: "!", count: count) + "true" }
        func negations(_ count: Int) -> String { String(repeating: "-", count: count) + "1" }
        func ternaries(_ count: Int) -> String { String(repeating: "true ? 1 : ", count: count) + "2" }
        for make in [parens, lists, calls, nots, negations] {
            _ = try EventExpression(parsing: make(limit))
            #expect(throws: ExpressionParseError.self, "\(make(limit + 1))") { try EventExpression(parsing: make(limit + 1)) }
        }
        _ = try EventExpression(parsing: ternaries(limit))
        #expect(throws: ExpressionParseError.self) { try EventExpression(parsing: ternaries(limit + 10)) }
        let error = #expect(throws: ExpressionParseError.self) { try EventExpression(parsing: parens(200)) }
        #expect(error?.reason == "nested more than 64 levels deep")
        #expect(error?.position == 65)
    }

    @Test("a long chain of operators is bounded by the height of its tree")
    func chains() throws {
        func chain(_ count: Int) -> String { "1" + String(repeating: "+1", count: count) }
        #expect(try EventExpression(parsing: chain(255)).evaluate(event: .null) == 256)
        let error = #expect(throws: ExpressionParseError.self) { try EventExpression(parsing: chain(256)) }
        #expect(error?.reason == "more than 256 operators nested")
        #expect(throws: ExpressionParseError.self) { try EventExpression(parsing: String(repeating: "1||", count: 300) + "1") }
    }

    @Test("a wait condition accepts bound payloads far longer than a written expression, nested as deep as JSON")
    func conditionLimits() throws {
        let big = String(repeating: "x", count: 300_000)
        var deep: JSON = "end"
        for _ in 1..<JSON.maximumPayloadNestingDepth { deep = ["inner": deep] }
        let trigger: JSON = ["data": ["big": .string(big), "deep": deep, "list": [[[[1]]]]]]
        let condition = try EventCondition("async.data.big == event.data.big && async.data.deep == event.data.deep && async.data.list == event.data.list")
        let stored = condition.binding(event: trigger).description
        #expect(stored.utf8.count > 300_000)
        let reread = try EventCondition(stored)
        #expect(reread == condition.binding(event: trigger))
        #expect(reread.isSatisfied(by: trigger))
        #expect(!reread.isSatisfied(by: ["data": ["big": "y", "deep": deep, "list": [[[[1]]]]]]))
        #expect(throws: ExpressionParseError.self) { try EventExpression(parsing: "event.data.x == '\(big)'") }
    }

    @Test("lists nested in lists are not scanned again and again: refusing them stays linear in the text")
    func nestedScans() {
        // 128 lists, none closed, over 1 MB of text JSON allows: each list would scan to the
        // end, 128 MB in all (about 20 s in a debug build); bounded, it is 2 MB.
        let text = String(repeating: "[", count: 128) + String(repeating: "1 ", count: 500_000)
        var refused = false
        let elapsed = ContinuousClock().measure {
            do { _ = try EventCondition(text) } catch { refused = true }
        }
        #expect(refused)
        #expect(elapsed < .seconds(3), "refused in \(elapsed)")
    }

    /// A generator of the same numbers on every run, so that a failure can be replayed.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("random text never crashes the parser; what parses evaluates, and its written form means the same")
    func fuzz() throws {
        var random = SplitMix64(state: 0x5EED)
        let tokens = [
            "event", "event.data", ".x", ".items", "[0]", "['k']", "[", "]", "(", ")", "{", "}", "\"s\"", "'t'", "\"\\u00e9\"", "'\\\\'",
            "1", "-", "2.5", "1e3", "0", "9223372036854775807", "true", "false", "null", "!", "&&", "||", "==", "!=", "<", "<=", ">", ">=",
            "+", "*", "/", "%", "?", ":", ",", "in", "has(", "string(", "int(", "size(", ".contains(", ".startsWith(", " ", "é", "😀", "\\",
            "\"", "'", "=", "&", "|", "@", ".",
        ]
        let event = EventExpression.envelope(
            id: "01J0000000000000000000000A", name: "a/b",
            data: ["x": 5, "items": [1, "two", ["k": 3]], "k": "v", "s": "text"], user: nil, ts: 1_700_000_000_000)
        /// A random expression that parses, `depth` levels deep at most.
        func expression(_ depth: Int) -> String {
            let leaves = ["event.data.x", "event.data.items[2].k", "event.data['k']", "event.missing", "1", "-2", "2.5", "'s'", "\"\\u00e9\\n\"", "true", "null", "[1, 'two']", "{'a': 1}"]
            guard depth > 0, Int.random(in: 0...3, using: &random) > 0 else { return leaves.randomElement(using: &random) ?? "1" }
            let a = expression(depth - 1)
            let b = expression(depth - 1)
            switch Int.random(in: 0...9, using: &random) {
            case 0: return "(\(a))"
            case 1: return "!\(a)"
            case 2: return "-\(a)"
            case 3: return "\(a) ? \(b) : \(expression(depth - 1))"
            case 4: return "has(event.data.\(["x", "items", "q"].randomElement(using: &random) ?? "x"))"
            case 5: return "\(["string", "int", "size"].randomElement(using: &random) ?? "int")(\(a))"
            case 6: return "[\(a), \(b)][\(Int.random(in: -1...2, using: &random))]"
            case 7: return "\(a).contains(\(b))"
            default:
                let operators = ["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "in"]
                return "\(a) \(operators.randomElement(using: &random) ?? "+") \(b)"
            }
        }
        var parsed = 0
        var refused = 0
        for round in 0..<6000 {
            var text: String
            switch round % 4 {
            case 0:
                let bytes = (0..<Int.random(in: 0...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                text = String(decoding: bytes, as: UTF8.self)
            case 1:
                text = (0..<Int.random(in: 1...14, using: &random)).map { _ in tokens.randomElement(using: &random) ?? "" }.joined()
            case 2:
                text = expression(4)
            default:
                // A valid expression with one character dropped or one token put in.
                text = expression(4)
                let index = text.index(text.startIndex, offsetBy: Int.random(in: 0..<max(text.count, 1), using: &random), limitedBy: text.endIndex) ?? text.startIndex
                if Bool.random(using: &random), index < text.endIndex {
                    text.remove(at: index)
                } else {
                    text.insert(contentsOf: tokens.randomElement(using: &random) ?? "", at: index)
                }
            }
            let node: ExpressionNode
            do {
                node = try ExpressionParser.parse(text, roots: ["event"], limits: .written)
            } catch {
                refused += 1
                #expect(error.expression == text)
                #expect(error.position >= 0 && error.position <= text.count, "\(error)")
                continue
            }
            parsed += 1
            let evaluator = ExpressionEvaluator(expression: text, roots: ["event": event])
            let value = Result { () throws(ExpressionEvaluationError) in try evaluator.evaluate(node) }
            let written = node.text
            let reread = try ExpressionParser.parse(written, roots: ["event"], limits: .condition)
            let again = Result { () throws(ExpressionEvaluationError) in try evaluator.evaluate(reread) }
            switch (value, again) {
            case (.success(let a), .success(let b)): #expect(a == b, "\(text) → \(written)")
            case (.failure(let a), .failure(let b)): #expect(a.reason == b.reason, "\(text) → \(written)")
            default: Issue.record("\(text) and its written form \(written) disagree: \(value) and \(again)")
            }
        }
        #expect(parsed > 1500, "the generator makes expressions that parse (\(parsed))")
        #expect(refused > 1500, "and ones that do not (\(refused))")
    }
}
