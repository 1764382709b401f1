import Testing
@_spi(StoreImplementation) @testable import Stepwise

/// The envelope the evaluation tests read: an order with nested data, a user, an id and a ts.
let expressionTestEvent = EventExpression.envelope(
    id: "01HZX5T3Q8M2V7K9W4N6B1C0DE", name: "shop/order.placed",
    data: [
        "customerId": "c-1", "amount": 150, "price": 2.5, "plan": "enterprise", "flag": true, "zero": 0, "nothing": nil,
        "items": [["sku": "a", "qty": 2], ["sku": "b", "qty": 1]], "tags": ["x", "y"], "x-y": "dash", "count": "42",
        "nested": ["deep": ["value": 7]], "importId": "i-9", "big": 9_223_372_036_854_775_807,
    ],
    user: ["email": "ann@example.com"], ts: 1_700_000_000_000)

private func evaluated(_ text: String) throws -> JSON {
    try EventExpression(parsing: text).evaluate(event: expressionTestEvent)
}

@Suite("Expressions: evaluation")
struct ExpressionEvaluationTests {
    @Test("paths read the envelope: id, name, ts, data and user; a missing field reads as null", arguments: [
        ("event.data.customerId", "c-1"),
        ("event.name", "shop/order.placed"),
        ("event.id", "01HZX5T3Q8M2V7K9W4N6B1C0DE"),
        ("event.ts", 1_700_000_000_000),
        ("event.user.email", "ann@example.com"),
        ("event.data.nested.deep.value", 7),
        ("event.data.missing", nil),
        ("event.data.missing.deeper.still", nil),
        ("event.data.nothing", nil),
        ("event.data.nothing.deeper", nil),
        ("event.missing", nil),
        ("event.data.items[0].sku", "a"),
        ("event.data.items[1][\"qty\"]", 1),
        ("event.data.items[1.0].sku", "b"),
        ("event.data.items[2]", nil),
        ("event.data.items[-1]", nil),
        ("event.data.items[5].sku", nil),
        ("event.data[\"x-y\"]", "dash"),
        ("event.data['missing']", nil),
        ("event[\"data\"].plan", "enterprise"),
        ("event.data.tags[event.data.zero]", "x"),
    ] as [(String, JSON)])
    func paths(text: String, expected: JSON) throws {
        #expect(try evaluated(text) == expected)
    }

    @Test("literals: strings with escapes, integers, doubles, booleans, null, lists and maps", arguments: [
        ("'it\\'s'", "it's"),
        ("\"say \\\"hi\\\"\"", "say \"hi\""),
        ("\"a\\nb\\tc\\\\\"", "a\nb\tc\\"),
        ("'\\u00e9'", "é"),
        ("'\\ud83d\\ude00'", "😀"),
        ("'\\U0001F600'", "😀"),
        ("'\\x41\\/\\?\\`'", "A/?`"),
        ("'ünïcödé'", "ünïcödé"),
        ("42", 42),
        ("-7", -7),
        ("-9223372036854775808", .int(Int64.min)),
        ("2.5", 2.5),
        ("1.5e3", 1500.0),
        ("1e-2", 0.01),
        ("true", true),
        ("false", false),
        ("null", nil),
        ("[1, 'a', [true]]", [1, "a", [true]]),
        ("[]", []),
        ("[event.data.amount, event.data.missing]", [150, nil]),
        ("{\"a\": 1, 'b': event.data.plan}", ["a": 1, "b": "enterprise"]),
        ("{\"a\": 1, \"a\": 2}", ["a": 2]),
        ("{}", .emptyObject),
        ("{\"k\": [1, 2]}.k[1]", 2),
    ] as [(String, JSON)])
    func literals(text: String, expected: JSON) throws {
        #expect(try evaluated(text) == expected)
    }

    @Test("arithmetic and concatenation", arguments: [
        ("1 + 2", 3),
        ("event.data.amount - 50", 100),
        ("event.data.price * 2", 5.0),
        ("7 / 2", 3),
        ("-7 / 2", -3),
        ("7.0 / 2", 3.5),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("1 + 2.5", 3.5),
        ("--5", 5),
        ("-event.data.amount", -150),
        ("-(2 + 3)", -5),
        ("2 - -3", 5),
        ("event.data.customerId + '-' + event.data.importId", "c-1-i-9"),
        ("'' + ''", ""),
        ("[1] + [2, 3]", [1, 2, 3]),
        ("event.data.items[0].qty * 2 + 1", 5),
    ] as [(String, JSON)])
    func arithmetic(text: String, expected: JSON) throws {
        let value = try evaluated(text)
        #expect(value == expected)
        // Integers stay integers and the rest doubles, though 5 and 5.0 are equal as JSON.
        func isInteger(_ value: JSON) -> Bool { if case .int = value { true } else { false } }
        #expect(isInteger(value) == isInteger(expected), "\(value)")
    }

    @Test("comparisons and in", arguments: [
        ("event.data.amount > 100", true),
        ("event.data.amount >= 150", true),
        ("event.data.amount < 150", false),
        ("event.data.amount <= 149.5", false),
        ("event.data.amount == 150.0", true),
        ("event.data.amount != 150", false),
        ("event.data.big > 9223372036854775806", true),
        ("'a' < 'b'", true),
        ("'b' <= 'a'", false),
        ("event.data.missing < 1", false),
        ("event.data.missing >= 1", false),
        ("event.data.missing == null", true),
        ("event.data.nothing == null", true),
        ("1 == '1'", false),
        ("1 < '2'", false),
        ("event.data.tags == ['x', 'y']", true),
        ("event.data.nested == {'deep': {'value': 7.0}}", true),
        ("'x' in event.data.tags", true),
        ("'z' in event.data.tags", false),
        ("'plan' in event.data", true),
        ("'other' in event.data", false),
        ("1 in event.data", false),
        ("1 in event.data.missing", false),
        ("2 in [1, 2.0]", true),
    ] as [(String, Bool)])
    func comparisons(text: String, expected: Bool) throws {
        #expect(try evaluated(text) == .bool(expected))
    }

    @Test("logic and ?: take false and null as false, anything else as true, and skip what cannot matter", arguments: [
        ("true && false", false),
        ("true || false", true),
        ("!event.data.flag", false),
        ("!event.data.missing", true),
        ("!!event.data.plan", true),
        ("!event.data.zero", false),
        ("event.data.flag && event.data.amount > 100", true),
        ("event.data.missing || event.data.nothing", false),
        ("false && int('x') == 1", false),
        ("true || int('x') == 1", true),
        ("event.data.missing ? false : true", true),
        ("event.data.plan ? true : false", true),
    ] as [(String, Bool)])
    func logic(text: String, expected: Bool) throws {
        #expect(try evaluated(text) == .bool(expected))
    }

    @Test("has() tells a missing field from one that is there, even as null", arguments: [
        ("has(event.data.plan)", true),
        ("has(event.data.missing)", false),
        ("has(event.data.nothing)", true),
        ("has(event.data.missing.deeper)", false),
        ("has(event.data.items[0])", true),
        ("has(event.data.items[9])", false),
        ("has(event.data['x-y'])", true),
        ("has(event.id)", true),
        ("has(event.data.priority) ? event.data.priority : 0", false),
    ] as [(String, Bool)])
    func has(text: String, expected: Bool) throws {
        let value = try evaluated(text)
        if text.contains("?") { #expect(value == 0) } else { #expect(value == .bool(expected)) }
    }

    @Test("string(), int(), size() and the string methods", arguments: [
        ("string(42)", "42"),
        ("string(-2.5)", "-2.5"),
        ("string(3.0)", "3"),
        ("string(1e300)", "1e+300"),
        ("string(true)", "true"),
        ("string('s')", "s"),
        ("string(event.data.amount) + '!'", "150!"),
        ("int('42')", 42),
        ("int('-42')", -42),
        ("int(event.data.count) + 1", 43),
        ("int(2.9)", 2),
        ("int(-2.9)", -2),
        ("int(7)", 7),
        ("size('héllo')", 5),
        ("size(event.data.items)", 2),
        ("size({'a': 1})", 1),
        ("event.user.email.endsWith('@example.com')", true),
        ("event.user.email.contains('@')", true),
        ("event.user.email.contains('')", true),
        ("event.user.email.startsWith('bob')", false),
        ("'abc'.startsWith('ab')", true),
    ] as [(String, JSON)])
    func functions(text: String, expected: JSON) throws {
        #expect(try evaluated(text) == expected)
    }

    @Test("an expression that does not fit the event is an error naming the expression and the problem", arguments: [
        ("int('abc')", "int() cannot read \"abc\" as an integer"),
        ("int('1.5')", "int() cannot read \"1.5\" as an integer"),
        ("int(true)", "int() cannot convert a boolean"),
        ("int(event.data.missing)", "int() cannot convert null"),
        ("int(1e300)", "int() cannot convert 1e+300: out of range"),
        ("string(event.data.missing)", "string() cannot convert null"),
        ("string([1])", "string() cannot convert an array"),
        ("size(1)", "size() needs a string, a list or an object, not a number"),
        ("'a' + 1", "'+' cannot add a string and a number"),
        ("event.data.plan + event.data.missing", "'+' cannot add a string and null"),
        ("'a' - 1", "'-' cannot subtract a number from a string"),
        ("true * 2", "'*' cannot multiply a boolean and a number"),
        ("-'a'", "'-' cannot negate a string"),
        ("event.data.amount[0]", "cannot index a number"),
        ("event.data.plan[0]", "cannot index a string"),
        ("event.data.amount.x", "cannot read the field 'x' of a number"),
        ("event.data.items.x", "cannot read the field 'x' of an array"),
        ("has(event.data.amount.x)", "cannot read the field 'x' of a number"),
        ("event.data.items['a']", "an array's index must be an integer, not a string"),
        ("event.data.items[0.5]", "an array's index must be an integer, not a number"),
        ("event.data.items[event.data.missing]", "an array's index must be an integer, not null"),
        ("event.data[0]", "an object's field is named by a string, not a number"),
        ("1 / 0", "'/' by zero"),
        ("1 % 0", "'%' by zero"),
        ("1.0 / 0", "'/' by zero"),
        ("1.5 % 1", "'%' needs two integers, not a number and a number"),
        ("event.data.big + 1", "9223372036854775807 + 1 does not fit in 64 bits"),
        ("-(-9223372036854775808)", "-(-9223372036854775808) does not fit in 64 bits"),
        ("-9223372036854775808 / -1", "-9223372036854775808 / -1 does not fit in 64 bits"),
        ("1e308 * 10", "1e+308 * 10.0 is out of range"),
        ("1 in 'abc'", "'in' needs a list or an object on its right, not a string"),
        ("'abc'.contains(1)", "contains() needs two strings, not a string and a number"),
        ("event.data.missing.startsWith('a')", "startsWith() needs two strings, not null and a string"),
        ("true && 'a' + 1 == 1", "'+' cannot add a string and a number"),
    ])
    func errors(text: String, reason: String) {
        #expect(throws: ExpressionEvaluationError(expression: text, reason: reason)) { try evaluated(text) }
    }

    @Test("the error's message names the expression")
    func errorMessage() {
        let error = #expect(throws: ExpressionEvaluationError.self) { try evaluated("int(\"abc\")") }
        #expect(error?.description == "int() cannot read \"abc\" as an integer, evaluating \"int(\"abc\")\"")
    }

    @Test("precedence is CEL's: ?: loosest, then ||, &&, comparisons, + -, * / %, unary, member access", arguments: [
        ("1 + 2 * 3", 7),
        ("2 * 3 + 1", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 2 - 3", 5),
        ("100 / 10 / 5", 2),
        ("2 + 3 < 6", true),
        ("1 < 2 == true", true),
        ("!2 == 3", false),
        ("true || false && false", true),
        ("false && false || true", true),
        ("(true || false) && false", false),
        ("1 + 2 == 3 && 'a' + 'b' == 'ab'", true),
        ("true ? 1 : 2 + 10", 1),
        ("false ? 1 : 2 + 10", 12),
        ("false ? 1 : false ? 2 : 3", 3),
        ("true ? (false ? 1 : 2) : 3", 2),
        ("-2 * 3", -6),
        ("-event.data.items[0].qty", -2),
        ("!event.data.nested.deep.value", false),
        ("'y' in event.data.tags && 1 + 1 == 2", true),
        ("event.data.plan == 'enterprise' ? 120 : 0", 120),
    ] as [(String, JSON)])
    func precedence(text: String, expected: JSON) throws {
        #expect(try evaluated(text) == expected)
    }

    @Test("every construct written out parses back to the same meaning")
    func writtenForm() throws {
        let texts = [
            "event.data.customerId + '-' + event.data.importId", "1 - (2 - 3)", "(1 - 2) - 3", "-(-5)", "-(5)", "!(1 == 2)", "!!event.data.flag",
            "event.a ? event.b : event.c", "(true ? 1 : 2) + 3", "true ? (false ? 1 : 2) : 3", "false ? 1 : false ? 2 : 3", "has(event.data['x-y'])",
            "event.data.items[0].sku", "[1, [2, {'a': event.x}]]", "{'a\\n\"': 1}.a", "size(string(int('4')))", "'q'.endsWith('q')",
            "(1 < 2) == (2 < 3)", "1 + 2 * 3 - -4 % 3", "'x' in ['x'] || 1 in {}", "-9223372036854775808", "1.5e300 * -1.0",
            "int('x') + 1", "event.data.items[0].qty.x",
        ]
        func outcome(_ result: Result<JSON, ExpressionEvaluationError>) -> String {
            switch result {
            case .success(let value): return "value \(value)"
            case .failure(let error): return "error \(error.reason)"
            }
        }
        for text in texts {
            let node = try ExpressionParser.parse(text, roots: ["event"], limits: .written)
            let written = node.text
            let reread = try ExpressionParser.parse(written, roots: ["event"], limits: .written)
            let evaluator = ExpressionEvaluator(expression: text, roots: ["event": expressionTestEvent])
            let original = Result { () throws(ExpressionEvaluationError) in try evaluator.evaluate(node) }
            let again = Result { () throws(ExpressionEvaluationError) in try evaluator.evaluate(reread) }
            #expect(outcome(original) == outcome(again), "\(text) → \(written)")
            #expect(reread.text == written, "writing is stable: \(written)")
        }
        #expect(try ExpressionParser.parse("1 - (2 - 3)", roots: [], limits: .written).text == "1 - (2 - 3)")
        #expect(try ExpressionParser.parse("((1 - 2)) - 3", roots: [], limits: .written).text == "1 - 2 - 3")
        #expect(try ExpressionParser.parse("(((5))).x", roots: [], limits: .written).text == "(5).x")
    }
}

@Suite("Expressions: results for flow control")
struct ExpressionResultTests {
    @Test("evaluateBoolean: true holds, false and null do not, anything else is an error")
    func boolean() throws {
        #expect(try EventExpression(parsing: "event.data.amount > 100").evaluateBoolean(event: expressionTestEvent))
        #expect(try EventExpression(parsing: "event.data.flag").evaluateBoolean(event: expressionTestEvent))
        #expect(try !EventExpression(parsing: "event.data.amount > 1000").evaluateBoolean(event: expressionTestEvent))
        #expect(try !EventExpression(parsing: "event.data.missing").evaluateBoolean(event: expressionTestEvent))
        #expect(throws: ExpressionEvaluationError(expression: "event.data.plan", reason: "the condition gave a string, not a boolean")) {
            try EventExpression(parsing: "event.data.plan").evaluateBoolean(event: expressionTestEvent)
        }
        #expect(throws: ExpressionEvaluationError.self) { try EventExpression(parsing: "event.data.zero").evaluateBoolean(event: expressionTestEvent) }
        #expect(throws: ExpressionEvaluationError.self) { try EventExpression(parsing: "int('x') == 1").evaluateBoolean(event: expressionTestEvent) }
    }

    @Test("evaluateKey: a string as it is, anything else as canonical JSON", arguments: [
        ("event.data.customerId", "c-1"),
        ("event.data.userId + '-' + event.data.importId", nil),
        ("event.data.customerId + '-' + event.data.importId", "c-1-i-9"),
        ("\"openai\"", "openai"),
        ("'\"openai\"'", "\"openai\""),
        ("event.data.amount", "150"),
        ("150.0", "150"),
        ("event.data.price", "2.5"),
        ("-0.5", "-0.5"),
        ("1e300", "1e+300"),
        ("event.data.missing", "null"),
        ("event.data.flag", "true"),
        ("false", "false"),
        ("event.data.tags", "[\"x\",\"y\"]"),
        ("{'b': 1, 'a': [2.0, 's\\n'], 'é': null}", "{\"a\":[2,\"s\\n\"],\"b\":1,\"é\":null}"),
        ("event.data.items[0]", "{\"qty\":2,\"sku\":\"a\"}"),
        ("''", ""),
    ] as [(String, String?)])
    func key(text: String, expected: String?) throws {
        let expression = try EventExpression(parsing: text)
        if let expected {
            #expect(try expression.evaluateKey(event: expressionTestEvent) == expected)
        } else {
            #expect(throws: ExpressionEvaluationError.self) { try expression.evaluateKey(event: expressionTestEvent) }
        }
    }

    @Test("keys of values equal as JSON are equal, whatever the order of an object's keys")
    func keyOrder() {
        let a: JSON = ["x": 1, "y": ["b": 2.0, "a": 1]]
        let b: JSON = ["y": ["a": 1.0, "b": 2], "x": 1.0]
        #expect(a == b)
        #expect(EventExpression.keyText(of: a) == EventExpression.keyText(of: b))
        #expect(EventExpression.keyText(of: a) == "{\"x\":1,\"y\":{\"a\":1,\"b\":2}}")
    }

    @Test("evaluateInteger: an integer, or a double without a fraction; anything else, null too, is an error", arguments: [
        ("event.data.plan == 'enterprise' ? 120 : 0", 120),
        ("event.data.plan == 'free' ? 120 : -60", -60),
        ("has(event.data.priority) ? event.data.priority : 0", 0),
        ("150.0", 150),
        ("event.data.big", Int64.max),
        ("1.5", nil),
        ("'1'", nil),
        ("event.data.missing", nil),
        ("true", nil),
        ("1e300", nil),
    ] as [(String, Int64?)])
    func integer(text: String, expected: Int64?) throws {
        let expression = try EventExpression(parsing: text)
        if let expected {
            #expect(try expression.evaluateInteger(event: expressionTestEvent) == expected)
        } else {
            #expect(throws: ExpressionEvaluationError.self) { try expression.evaluateInteger(event: expressionTestEvent) }
        }
    }

    @Test("a stored event's envelope carries its id, name, data, user and ts in milliseconds")
    func envelope() throws {
        let id = EventID(ULID(milliseconds: 1_700_000_000_000, random: 1, 42))
        let event = StoredEvent(
            id: id, environment: "default", name: "a/b", data: ["x": 1], user: nil, dedupeID: "d", ts: 1_700_000_000_123, v: nil,
            receivedAt: 1_700_000_000_456)
        #expect(event.expressionEnvelope == ["id": .string(id.description), "name": "a/b", "data": ["x": 1], "user": nil, "ts": 1_700_000_000_123])
        #expect(try EventExpression(parsing: "event.id").evaluate(event: event.expressionEnvelope) == .string(id.description))
        #expect(try EventExpression(parsing: "event.ts > 1700000000000").evaluateBoolean(event: event.expressionEnvelope))
        #expect(try EventExpression(parsing: "event.user.plan").evaluate(event: event.expressionEnvelope) == nil)
        #expect(EventExpression.envelope(id: nil, name: "n", data: .emptyObject, user: ["u": 1], ts: 5)["id"] == .some(.null))
    }
}
