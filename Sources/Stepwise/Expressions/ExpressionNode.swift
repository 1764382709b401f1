/// A parsed expression: the tree that ``ExpressionParser`` builds from text and that the
/// evaluator walks. One tree serves both ``EventCondition`` (waits, `cancelOn`) and
/// ``EventExpression`` (flow control), so the two can never disagree on what an expression
/// means.
indirect enum ExpressionNode: Sendable, Hashable {
    /// A value written in the text, or bound in from the triggering event.
    case literal(JSON)
    /// A list written as `[a, b]`, whose elements are expressions.
    case list([ExpressionNode])
    /// An object written as `{"k": a}`, its keys string literals.
    case map([MapEntry])
    /// `event` or `async`: the envelope the caller gives under that name.
    case root(String)
    /// `base.name`: an object's field.
    case field(ExpressionNode, String)
    /// `base[index]`: an array's element or an object's field.
    case index(ExpressionNode, ExpressionNode)
    /// `!x` or `-x`.
    case unary(UnaryOperator, ExpressionNode)
    /// Arithmetic, comparison and `in`: both sides are always evaluated.
    case binary(BinaryOperator, ExpressionNode, ExpressionNode)
    /// `a && b`, evaluated left to right, stopping at a false left side.
    case and(ExpressionNode, ExpressionNode)
    /// `a || b`, evaluated left to right, stopping at a true left side.
    case or(ExpressionNode, ExpressionNode)
    /// `condition ? then : else`: only the branch chosen is evaluated.
    case conditional(ExpressionNode, ExpressionNode, ExpressionNode)
    /// `has(path)`: whether the field or element at the end of `path` exists. The argument is
    /// always a ``field(_:_:)`` or ``index(_:_:)``, which the parser checks.
    case has(ExpressionNode)
    /// `string(x)`, `int(x)`, `size(x)`.
    case call(Function, ExpressionNode)
    /// `x.contains(y)`, `x.startsWith(y)`, `x.endsWith(y)`, on strings.
    case method(ExpressionNode, Method, ExpressionNode)

    /// One member of a ``map(_:)``, in the order written.
    struct MapEntry: Sendable, Hashable {
        let key: String
        let value: ExpressionNode
    }

    enum UnaryOperator: String, Sendable, Hashable {
        case not = "!", negate = "-"
    }

    enum BinaryOperator: String, Sendable, Hashable {
        case multiply = "*", divide = "/", remainder = "%"
        case add = "+", subtract = "-"
        case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
        case `in` = "in"
    }

    enum Function: String, Sendable, Hashable, CaseIterable {
        case string, int, size
    }

    enum Method: String, Sendable, Hashable, CaseIterable {
        case contains, startsWith, endsWith
    }
}
