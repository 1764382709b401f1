/// Why an expression that parsed could not give a value for one event: `int("abc")`,
/// `"a" + 1`, a number indexed, a key expression that gave the wrong kind of value.
///
/// A missing field is not an error (it reads as `null`), so this marks an expression that
/// is wrong for the event's actual shape. Flow control creates no run for such an event
/// and records this error, so its description names the expression as well as the problem.
public struct ExpressionEvaluationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The expression's text (for a bound wait condition, its stored form).
    public let expression: String
    /// What went wrong, such as "'+' cannot add a string and a number".
    public let reason: String

    /// An error as the evaluator reports it; public so that a store or engine outside this
    /// module can record one in the same shape.
    public init(expression: String, reason: String) {
        self.expression = expression
        self.reason = reason
    }

    /// The problem and the expression in one line, as an admission record keeps it.
    public var description: String { "\(reason), evaluating \(ExpressionParseError.quoted(expression))" }
}
