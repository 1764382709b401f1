/// How much text and nesting the parser accepts, so that parsing and evaluating hostile or
/// mistaken input takes bounded time and bounded stack: the parser and the evaluator
/// recurse once per level, and a thread's stack is small.
struct ExpressionLimits: Sendable, Hashable {
    /// The most UTF-8 bytes of text; longer text is refused before it is read.
    let maximumLength: Int
    /// The most levels of parentheses, brackets, calls, `?:` branches and unary operators
    /// one inside another.
    let maximumNesting: Int
    /// The most levels of the parsed tree, which also counts chains such as `a + b + c`
    /// (each operator adds a level): the evaluator recurses once per level.
    let maximumHeight: Int

    /// Expressions written by people: flow-control keys, `if`, priority. A kilobyte holds
    /// any sensible expression many times over.
    static let written = ExpressionLimits(maximumLength: 1024, maximumNesting: 64, maximumHeight: 256)

    /// Wait and `cancelOn` conditions. Their stored form has the triggering event's values
    /// bound in place of `event.…` paths, so it can hold event payloads (256 KiB each by
    /// default, and a condition may name several), so the length bound is generous. Bound
    /// arrays and objects are read by the JSON parser, which has its own nesting limit; a
    /// bound number read as a field's base gains a pair of parentheses (`(5).x`), which the
    /// larger nesting bound leaves room for.
    static let condition = ExpressionLimits(maximumLength: 32 * 1024 * 1024, maximumNesting: 128, maximumHeight: 256)
}
