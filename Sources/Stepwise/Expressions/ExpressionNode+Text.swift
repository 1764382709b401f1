extension ExpressionNode {
    /// The node written out so that parsing the text gives back an expression with the same
    /// meaning: values as JSON, and parentheses only where precedence needs them, so that
    /// the text nests no deeper than what was parsed (a bound wait condition is stored in
    /// this form and parsed again, under the same nesting limit, by each process that
    /// matches events). Lists and maps are written as JSON writes arrays and objects, so that
    /// one whose elements are all values reads back as the same text.
    var text: String {
        text(atLeast: Precedence.conditional)
    }

    /// How tightly a node binds, loosest first, as the parser reads them.
    private enum Precedence {
        static let conditional = 0, or = 1, and = 2, relation = 3, additive = 4, multiplicative = 5, unary = 6, primary = 7
    }

    private var precedence: Int {
        switch self {
        case .conditional: return Precedence.conditional
        case .or: return Precedence.or
        case .and: return Precedence.and
        case .binary(let operation, _, _):
            switch operation {
            case .multiply, .divide, .remainder: return Precedence.multiplicative
            case .add, .subtract: return Precedence.additive
            case .equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual, .in: return Precedence.relation
            }
        case .unary: return Precedence.unary
        case .literal(.int(let number)) where number < 0: return Precedence.unary
        case .literal(.double(let number)) where number.sign == .minus: return Precedence.unary
        case .literal, .list, .map, .root, .field, .index, .has, .call, .method: return Precedence.primary
        }
    }

    /// The text, in parentheses if this node binds more loosely than `minimum`.
    private func text(atLeast minimum: Int) -> String {
        let text = unparenthesizedText
        return precedence < minimum ? "(" + text + ")" : text
    }

    /// The text of a node as the base of a field, index or method: a number in parentheses
    /// too, so that `(5).x` does not run into the number's own text.
    private var baseText: String {
        switch self {
        case .literal(.int), .literal(.double): return "(" + unparenthesizedText + ")"
        default: return text(atLeast: Precedence.primary)
        }
    }

    private var unparenthesizedText: String {
        switch self {
        case .literal(let value):
            return value.serialized
        case .list(let elements):
            return "[" + elements.map(\.text).joined(separator: ",") + "]"
        case .map(let entries):
            return "{" + entries.map { JSON.string($0.key).serialized + ":" + $0.value.text }.joined(separator: ",") + "}"
        case .root(let name):
            return name
        case .field(let base, let name):
            return base.baseText + "." + name
        case .index(let base, let index):
            return base.baseText + "[" + index.text + "]"
        case .unary(let operation, let operand):
            return operation.rawValue + operand.text(atLeast: Precedence.unary)
        case .binary(let operation, let left, let right):
            return infix(operation.rawValue, left, right)
        case .and(let left, let right):
            return infix("&&", left, right)
        case .or(let left, let right):
            return infix("||", left, right)
        case .conditional(let condition, let then, let otherwise):
            return condition.text(atLeast: Precedence.or) + " ? " + then.text(atLeast: Precedence.or) + " : " + otherwise.text
        case .has(let path):
            return "has(" + path.text + ")"
        case .call(let function, let argument):
            return function.rawValue + "(" + argument.text + ")"
        case .method(let base, let method, let argument):
            return base.baseText + "." + method.rawValue + "(" + argument.text + ")"
        }
    }

    /// A left-associative operator: the left side may be another of the same precedence,
    /// the right side must bind tighter.
    private func infix(_ symbol: String, _ left: ExpressionNode, _ right: ExpressionNode) -> String {
        left.text(atLeast: precedence) + " " + symbol + " " + right.text(atLeast: precedence + 1)
    }
}
