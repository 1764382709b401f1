extension ExpressionNode {
    /// The node with each root in `values` replaced by its value, and every path that then
    /// starts at a value replaced by the value it reaches (`null` where it leads nowhere).
    ///
    /// A wait registers its condition this way: `event.…` becomes the triggering event's
    /// values, so that what is stored refers only to the incoming event and any process can
    /// match it without the triggering event at hand. A path that would fail (a field of a
    /// number) is left as it is, to fail when evaluated, as it would have unbound.
    func binding(_ values: [String: JSON]) -> ExpressionNode {
        let evaluator = ExpressionEvaluator(expression: "", roots: [:])
        func bind(_ node: ExpressionNode) -> ExpressionNode {
            switch node {
            case .literal:
                return node
            case .root(let name):
                guard let value = values[name] else { return node }
                return .literal(value)
            case .list(let elements):
                return .list(elements.map(bind))
            case .map(let entries):
                return .map(entries.map { MapEntry(key: $0.key, value: bind($0.value)) })
            case .field(let base, let name):
                let base = bind(base)
                if case .literal(let value) = base, let member = Self.attempt({ () throws(ExpressionEvaluationError) in try evaluator.member(of: value, named: name) }) {
                    return .literal(member ?? .null)
                }
                return .field(base, name)
            case .index(let base, let index):
                let base = bind(base)
                let index = bind(index)
                if case .literal(let value) = base, case .literal(let position) = index,
                   let element = Self.attempt({ () throws(ExpressionEvaluationError) in try evaluator.element(of: value, at: position) }) {
                    return .literal(element ?? .null)
                }
                return .index(base, index)
            case .has(.field(let base, let name)):
                let base = bind(base)
                if case .literal(let value) = base, let member = Self.attempt({ () throws(ExpressionEvaluationError) in try evaluator.member(of: value, named: name) }) {
                    return .literal(.bool(member != nil))
                }
                return .has(.field(base, name))
            case .has(.index(let base, let index)):
                let base = bind(base)
                let index = bind(index)
                if case .literal(let value) = base, case .literal(let position) = index,
                   let element = Self.attempt({ () throws(ExpressionEvaluationError) in try evaluator.element(of: value, at: position) }) {
                    return .literal(.bool(element != nil))
                }
                return .has(.index(base, index))
            case .has(let path):
                return .has(bind(path))
            case .unary(let operation, let operand):
                return .unary(operation, bind(operand))
            case .binary(let operation, let left, let right):
                return .binary(operation, bind(left), bind(right))
            case .and(let left, let right):
                return .and(bind(left), bind(right))
            case .or(let left, let right):
                return .or(bind(left), bind(right))
            case .conditional(let condition, let then, let otherwise):
                return .conditional(bind(condition), bind(then), bind(otherwise))
            case .call(let function, let argument):
                return .call(function, bind(argument))
            case .method(let base, let method, let argument):
                return .method(bind(base), method, bind(argument))
            }
        }
        return bind(self)
    }

    /// The field or element a lookup finds (`.some(nil)` when missing), or `nil` when the
    /// lookup fails: `try?` would flatten the two.
    private static func attempt(_ lookup: () throws(ExpressionEvaluationError) -> JSON?) -> JSON?? {
        do {
            return .some(try lookup())
        } catch {
            return .none
        }
    }
}
