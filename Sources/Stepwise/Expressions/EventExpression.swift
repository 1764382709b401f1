/// An expression over the event that triggers a function, in a small subset of CEL: how
/// flow control reads an event (a concurrency or throttle key, an `if` that decides
/// whether the event runs the function, a priority).
///
/// ```text
/// event.data.customerId
/// event.data.userId + "-" + event.data.importId
/// event.data.plan == "enterprise" ? 120 : 0
/// has(event.data.email) && event.data.email.endsWith("@example.com")
/// ```
///
/// An expression is text, not a closure, because it is evaluated by whichever process
/// accepts the event, and that may be the HTTP server, which holds no handlers: the text is
/// what is stored with the function, and every process parses it the same way. See
/// `Docs/Guides/Expressions.md` for the grammar and the rules.
///
/// Write one as a string literal where an option takes it; `createFunction` calls
/// ``validate()`` and refuses the function if the text does not parse, naming the
/// expression and the position. ``init(parsing:)`` parses at once, for text from elsewhere.
///
/// Two expressions are equal when their texts are: the text is the source of truth.
public struct EventExpression: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The most UTF-8 bytes an expression may have. Longer text is refused before it is
    /// read, so that a mistaken or hostile definition costs bounded time.
    public static let maximumLength = ExpressionLimits.written.maximumLength
    /// The most levels of parentheses, brackets, calls and `?:` one inside another, so that
    /// parsing and evaluating cost bounded stack.
    public static let maximumNesting = ExpressionLimits.written.maximumNesting

    /// The expression as written, which is what is stored.
    public let text: String
    private let parsed: Result<ExpressionNode, ExpressionParseError>

    /// Parses `text` at once, for text that does not come from a literal in code (read from
    /// configuration, or sent over the wire).
    ///
    /// Labelled because the type is `ExpressibleByStringLiteral`: Swift reads
    /// `EventExpression("…")` with a literal as the literal itself, which cannot throw, so an
    /// unlabelled throwing initializer would throw for a variable and silently not for a
    /// literal.
    /// - Throws: ``ExpressionParseError`` naming the position and what was expected there.
    public init(parsing text: String) throws(ExpressionParseError) {
        self.text = text
        self.parsed = .success(try Self.parse(text))
    }

    /// An expression written in code. A literal cannot throw, so a problem is reported by
    /// ``validate()``, which `createFunction` calls; until then, evaluating it throws.
    public init(stringLiteral text: String) {
        self.text = text
        do {
            self.parsed = .success(try Self.parse(text))
        } catch {
            self.parsed = .failure(error)
        }
    }

    /// Checks that the expression parses, for a definition to refuse one that does not
    /// before any event meets it.
    /// - Throws: ``ExpressionParseError`` naming the position and what was expected there.
    public func validate() throws(ExpressionParseError) {
        if case .failure(let error) = parsed { throw error }
    }

    /// Checks that `text` parses as an expression, without keeping it.
    /// - Throws: ``ExpressionParseError`` naming the position and what was expected there.
    public static func validate(_ text: String) throws(ExpressionParseError) {
        _ = try parse(text)
    }

    /// The text as written, so that messages and logs show what the author wrote.
    public var description: String { text }

    /// Equal texts, since the text is what is stored and what every process parses.
    public static func == (lhs: EventExpression, rhs: EventExpression) -> Bool {
        lhs.text == rhs.text
    }

    /// Hashes the text, to agree with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(text)
    }

    private static func parse(_ text: String) throws(ExpressionParseError) -> ExpressionNode {
        try ExpressionParser.parse(text, roots: ["event"], limits: .written)
    }
}

// MARK: - Evaluation

extension EventExpression {
    /// The expression's value for one event, given as its envelope
    /// (``StoredEvent/expressionEnvelope``, or ``envelope(id:name:data:user:ts:)``). A missing
    /// field reads as `null`; this throws only when the expression does not fit the event.
    /// - Throws: ``ExpressionEvaluationError`` naming the expression and the problem, and
    ///   for an expression that did not parse (see ``validate()``).
    @_spi(StoreImplementation)
    public func evaluate(event: JSON) throws(ExpressionEvaluationError) -> JSON {
        switch parsed {
        case .failure(let error):
            throw ExpressionEvaluationError(expression: text, reason: "the expression does not parse (\(error.reason) at \(error.position))")
        case .success(let node):
            return try ExpressionEvaluator(expression: text, roots: ["event": event]).evaluate(node)
        }
    }

    /// The expression as a condition (a trigger's or a batch's `if`): `true` holds; `false`
    /// and `null` (a missing field) do not.
    /// - Throws: ``ExpressionEvaluationError`` for any other value, as Inngest refuses a
    ///   condition that is not a boolean: `if: "event.data.plan"` is almost always a
    ///   comparison left out, and an error recorded says so where a silent `true` would not.
    @_spi(StoreImplementation)
    public func evaluateBoolean(event: JSON) throws(ExpressionEvaluationError) -> Bool {
        let value = try evaluate(event: event)
        switch value {
        case .bool(let flag): return flag
        case .null: return false
        default: throw ExpressionEvaluationError(expression: text, reason: "the condition gave \(value.kindDescription), not a boolean")
        }
    }

    /// The expression as a key (concurrency, throttle, rate limit, debounce, batch,
    /// idempotency, singleton), formatted by ``keyText(of:)``.
    ///
    /// A control for which `false` means "not limited" (rate limit, singleton) should call
    /// ``evaluate(event:)`` and test for `false` first; this formats `false` as `"false"`.
    /// - Throws: ``ExpressionEvaluationError`` when the expression does not fit the event.
    @_spi(StoreImplementation)
    public func evaluateKey(event: JSON) throws(ExpressionEvaluationError) -> String {
        Self.keyText(of: try evaluate(event: event))
    }

    /// The expression as an integer (a priority, in seconds, which the caller clamps): an
    /// integer, or a double with no fractional part that fits in 64 bits.
    /// - Throws: ``ExpressionEvaluationError`` for any other value, `null` included: a
    ///   priority that is not a number is a mistake to record, and the caller falls back to
    ///   0. Write `has(event.data.p) ? event.data.p : 0` for an optional field.
    @_spi(StoreImplementation)
    public func evaluateInteger(event: JSON) throws(ExpressionEvaluationError) -> Int64 {
        let value = try evaluate(event: event)
        guard let integer = value.intValue else {
            throw ExpressionEvaluationError(expression: text, reason: "the expression gave \(value.kindDescription), not an integer")
        }
        return integer
    }
}
