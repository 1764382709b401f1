/// Gives an ``ExpressionNode`` its value against the envelopes of the events it names.
///
/// The rules, chosen so that the shape of an event, not a missing field, is what makes an
/// expression fail:
/// - A missing field, an element out of range, and any field of `null` read as `null`.
/// - Reading a field of a number, string, boolean or array, or indexing one that is not an
///   array or object, is an error: the expression assumes a shape the event does not have.
/// - `==` and `!=` compare any two values as JSON does (`1 == 1.0`); ordering compares two
///   numbers or two strings, and is false for any other pair (so `null < 1` is false).
/// - `&&`, `||`, `!` and `?:` take `false` and `null` as false and anything else as true,
///   and evaluate left to right, skipping what cannot change the result.
/// - Arithmetic needs numbers (`+` also joins two strings or two lists); an integer result
///   that overflows, a division by zero, or a result that is not finite is an error.
struct ExpressionEvaluator {
    /// The expression's text, for errors.
    let expression: String
    /// Each root's envelope; a root not given reads as `null`.
    let roots: [String: JSON]

    func evaluate(_ node: ExpressionNode) throws(ExpressionEvaluationError) -> JSON {
        switch node {
        case .literal(let value):
            return value
        case .list(let elements):
            var values: [JSON] = []
            values.reserveCapacity(elements.count)
            for element in elements { values.append(try evaluate(element)) }
            return .array(values)
        case .map(let entries):
            var members = JSON.Object(minimumCapacity: entries.count)
            for entry in entries { members[JSON.Key(entry.key)] = try evaluate(entry.value) }
            return .object(members)
        case .root(let name):
            return roots[name] ?? .null
        case .field(let base, let name):
            return try member(of: evaluate(base), named: name) ?? .null
        case .index(let base, let index):
            return try element(of: evaluate(base), at: evaluate(index)) ?? .null
        case .unary(.not, let operand):
            return .bool(!Self.isTruthy(try evaluate(operand)))
        case .unary(.negate, let operand):
            return try negate(evaluate(operand))
        case .binary(let operation, let left, let right):
            return try binary(operation, evaluate(left), evaluate(right))
        case .and(let left, let right):
            guard Self.isTruthy(try evaluate(left)) else { return .bool(false) }
            return .bool(Self.isTruthy(try evaluate(right)))
        case .or(let left, let right):
            if Self.isTruthy(try evaluate(left)) { return .bool(true) }
            return .bool(Self.isTruthy(try evaluate(right)))
        case .conditional(let condition, let then, let otherwise):
            return Self.isTruthy(try evaluate(condition)) ? try evaluate(then) : try evaluate(otherwise)
        case .has(let path):
            switch path {
            case .field(let base, let name): return .bool(try member(of: evaluate(base), named: name) != nil)
            case .index(let base, let index): return .bool(try element(of: evaluate(base), at: evaluate(index)) != nil)
            default: throw failure("has() needs a field")
            }
        case .call(let function, let argument):
            return try call(function, evaluate(argument))
        case .method(let base, let method, let argument):
            return try call(method, on: evaluate(base), evaluate(argument))
        }
    }

    /// `false` and `null` are false, anything else true: the rule conditions have always had,
    /// so that `async.data.flag` tests for a flag that is set.
    static func isTruthy(_ value: JSON) -> Bool {
        switch value {
        case .bool(let flag): return flag
        case .null: return false
        default: return true
        }
    }

    private func failure(_ reason: String) -> ExpressionEvaluationError {
        ExpressionEvaluationError(expression: expression, reason: reason)
    }

    // MARK: - Paths

    /// The field `name` of `base`; `nil` when it is missing or `base` is `null`.
    func member(of base: JSON, named name: String) throws(ExpressionEvaluationError) -> JSON? {
        switch base {
        case .object(let members): return members[JSON.Key(name)]
        case .null: return nil
        default: throw failure("cannot read the field '\(name)' of \(base.kindDescription)")
        }
    }

    /// The element of an array, or field of an object, at `index`; `nil` when out of range,
    /// missing, or `base` is `null`.
    func element(of base: JSON, at index: JSON) throws(ExpressionEvaluationError) -> JSON? {
        switch base {
        case .null:
            return nil
        case .array(let elements):
            guard let position = index.intValue else { throw failure("an array's index must be an integer, not \(index.kindDescription)") }
            guard position >= 0, position < Int64(elements.count) else { return nil }
            return elements[Int(position)]
        case .object(let members):
            guard case .string(let key) = index else { throw failure("an object's field is named by a string, not \(index.kindDescription)") }
            return members[JSON.Key(key)]
        default:
            throw failure("cannot index \(base.kindDescription)")
        }
    }

    // MARK: - Operators

    private func negate(_ value: JSON) throws(ExpressionEvaluationError) -> JSON {
        switch value {
        case .int(let number):
            let (result, overflow) = Int64(0).subtractingReportingOverflow(number)
            guard !overflow else { throw failure("-(\(number)) does not fit in 64 bits") }
            return .int(result)
        case .double(let number):
            return .double(-number)
        default:
            throw failure("'-' cannot negate \(value.kindDescription)")
        }
    }

    private func binary(_ operation: ExpressionNode.BinaryOperator, _ left: JSON, _ right: JSON) throws(ExpressionEvaluationError) -> JSON {
        switch operation {
        case .equal: return .bool(left == right)
        case .notEqual: return .bool(left != right)
        case .less, .lessOrEqual, .greater, .greaterOrEqual: return .bool(Self.ordered(left, operation, right))
        case .in: return try contains(right, left)
        case .add:
            switch (left, right) {
            case (.string(let a), .string(let b)): return .string(a + b)
            case (.array(let a), .array(let b)): return .array(a + b)
            default: return try arithmetic(operation, left, right)
            }
        case .subtract, .multiply, .divide, .remainder:
            return try arithmetic(operation, left, right)
        }
    }

    private static func ordered(_ left: JSON, _ operation: ExpressionNode.BinaryOperator, _ right: JSON) -> Bool {
        let order: Int
        switch (left, right) {
        case (.int(let a), .int(let b)):
            order = a < b ? -1 : (a > b ? 1 : 0)
        case (.string(let a), .string(let b)):
            order = a < b ? -1 : (a > b ? 1 : 0)
        default:
            guard let a = left.doubleValue, let b = right.doubleValue else { return false }
            order = a < b ? -1 : (a > b ? 1 : 0)
        }
        switch operation {
        case .less: return order < 0
        case .lessOrEqual: return order <= 0
        case .greater: return order > 0
        case .greaterOrEqual: return order >= 0
        default: return false
        }
    }

    private func contains(_ collection: JSON, _ value: JSON) throws(ExpressionEvaluationError) -> JSON {
        switch collection {
        case .array(let elements): return .bool(elements.contains(value))
        case .object(let members):
            guard case .string(let key) = value else { return .bool(false) }
            return .bool(members[JSON.Key(key)] != nil)
        case .null: return .bool(false)
        default: throw failure("'in' needs a list or an object on its right, not \(collection.kindDescription)")
        }
    }

    private func arithmetic(_ operation: ExpressionNode.BinaryOperator, _ left: JSON, _ right: JSON) throws(ExpressionEvaluationError) -> JSON {
        let verb: String
        switch operation {
        case .add: verb = "add"
        case .subtract: verb = "subtract"
        case .multiply: verb = "multiply"
        case .divide: verb = "divide"
        default: verb = "take the remainder of"
        }
        if case .int(let a) = left, case .int(let b) = right {
            let result: (partialValue: Int64, overflow: Bool)
            switch operation {
            case .add: result = a.addingReportingOverflow(b)
            case .subtract: result = a.subtractingReportingOverflow(b)
            case .multiply: result = a.multipliedReportingOverflow(by: b)
            case .divide, .remainder:
                guard b != 0 else { throw failure("'\(operation.rawValue)' by zero") }
                result = operation == .divide ? a.dividedReportingOverflow(by: b) : a.remainderReportingOverflow(dividingBy: b)
            default: throw failure("'\(operation.rawValue)' is not arithmetic")
            }
            guard !result.overflow else { throw failure("\(a) \(operation.rawValue) \(b) does not fit in 64 bits") }
            return .int(result.partialValue)
        }
        guard let a = left.doubleValue, let b = right.doubleValue else {
            let joined = operation == .add ? " and " : (operation == .subtract ? " from " : " and ")
            let (first, second) = operation == .subtract ? (right, left) : (left, right)
            throw failure("'\(operation.rawValue)' cannot \(verb) \(first.kindDescription)\(joined)\(second.kindDescription)")
        }
        let value: Double
        switch operation {
        case .add: value = a + b
        case .subtract: value = a - b
        case .multiply: value = a * b
        case .divide:
            guard b != 0 else { throw failure("'/' by zero") }
            value = a / b
        default:
            throw failure("'%' needs two integers, not \(left.kindDescription) and \(right.kindDescription)")
        }
        guard value.isFinite else { throw failure("\(a) \(operation.rawValue) \(b) is out of range") }
        return .double(value)
    }

    // MARK: - Functions

    private func call(_ function: ExpressionNode.Function, _ value: JSON) throws(ExpressionEvaluationError) -> JSON {
        switch function {
        case .string:
            switch value {
            case .string: return value
            case .bool(let flag): return .string(flag ? "true" : "false")
            case .int, .double: return .string(Self.numberText(value))
            default: throw failure("string() cannot convert \(value.kindDescription)")
            }
        case .int:
            switch value {
            case .int: return value
            case .double(let number):
                guard number.isFinite, let truncated = Int64(exactly: number.rounded(.towardZero)) else {
                    throw failure("int() cannot convert \(Self.numberText(value)): out of range")
                }
                return .int(truncated)
            case .string(let text):
                guard let number = Int64(text) else { throw failure("int() cannot read \(JSON.string(text).serialized) as an integer") }
                return .int(number)
            default:
                throw failure("int() cannot convert \(value.kindDescription)")
            }
        case .size:
            switch value {
            case .string(let text): return .int(Int64(text.unicodeScalars.count))
            case .array(let elements): return .int(Int64(elements.count))
            case .object(let members): return .int(Int64(members.count))
            default: throw failure("size() needs a string, a list or an object, not \(value.kindDescription)")
            }
        }
    }

    private func call(_ method: ExpressionNode.Method, on base: JSON, _ argument: JSON) throws(ExpressionEvaluationError) -> JSON {
        guard case .string(let text) = base, case .string(let part) = argument else {
            throw failure("\(method.rawValue)() needs two strings, not \(base.kindDescription) and \(argument.kindDescription)")
        }
        switch method {
        case .contains: return .bool(part.isEmpty || text.contains(part))
        case .startsWith: return .bool(text.hasPrefix(part))
        case .endsWith: return .bool(text.hasSuffix(part))
        }
    }

    /// A number as `string()` and keys write it: an integer, or a double with no fraction
    /// that fits in 64 bits, in decimal digits (`3.0` is "3", as a JSON number it is the same
    /// value); any other double in the shortest text that reads back as the same value.
    static func numberText(_ value: JSON) -> String {
        switch value {
        case .int(let number): return String(number)
        case .double(let number):
            if let integer = Int64(exactly: number) { return String(integer) }
            return JSON.double(number).serialized
        default: return value.serialized
        }
    }
}
