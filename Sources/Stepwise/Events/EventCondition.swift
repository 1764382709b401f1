/// A condition on events, for `waitForEvent(if:)` and `cancelOn(if:)`: an expression in the
/// language ``EventExpression`` uses (a small subset of CEL), such as
///
/// ```
/// async.data.amount >= 100 && async.data.userId == event.data.userId
/// ```
///
/// `event` is the run's triggering event and `async` the incoming one; paths walk their JSON
/// (`name`, `data…`, `user…`). The whole language is available (see
/// `Docs/Guides/Expressions.md`); a condition holds when its value is neither `false` nor
/// `null`, and one that fails to evaluate for an event does not hold. A missing field reads
/// as `null`.
///
/// `event` paths are replaced by their values when the run registers the condition, so what
/// is stored refers only to the incoming event; that stored form is ``description``.
public struct EventCondition: Sendable, Hashable, CustomStringConvertible {
    /// The roots a condition may name.
    static let roots = ["event", "async"]

    let root: ExpressionNode

    /// Parses a condition.
    /// - Throws: ``EventConditionError`` with the position of the problem.
    public init(_ text: String) throws(EventConditionError) {
        do {
            root = try ExpressionParser.parse(text, roots: Self.roots, limits: .condition)
        } catch {
            throw EventConditionError(condition: text, offset: error.position, reason: error.reason)
        }
    }

    init(root: ExpressionNode) {
        self.root = root
    }

    /// The condition with every `event.…` path replaced by its value in `event` (an event's
    /// envelope: `name`, `data`, `user`).
    func binding(event: JSON) -> EventCondition {
        EventCondition(root: root.binding(["event": event]))
    }

    /// Whether the incoming event (its envelope) satisfies the condition; `event` paths not
    /// bound read from `triggering`.
    func isSatisfied(by incoming: JSON, triggering: JSON = .null) -> Bool {
        let evaluator = ExpressionEvaluator(expression: "", roots: ["async": incoming, "event": triggering])
        guard let value = try? evaluator.evaluate(root) else { return false }
        return ExpressionEvaluator.isTruthy(value)
    }

    /// The condition written out in full, every operator in parentheses: the form a wait
    /// stores, which parses back to the same condition.
    public var description: String { root.text }
}

/// Why a condition could not be read.
public struct EventConditionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The condition as it was given.
    public let condition: String
    /// The character offset (0-based) at which reading stopped.
    public let offset: Int
    /// What was expected there, as ``ExpressionParseError/reason`` says it.
    public let reason: String
    /// The condition, the offset and the reason in one line, for a definition error.
    public var description: String {
        // Cut short like ExpressionParseError's: a stored condition can be megabytes long.
        let shown = condition.prefix(200)
        return "invalid condition '\(shown)\(shown.endIndex < condition.endIndex ? "…" : "")' at \(offset): \(reason)"
    }
}
