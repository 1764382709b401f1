/// The checks `createFunction` makes of the flow-control options, so that a limit that cannot
/// work is refused when the function is defined rather than discovered under load.
extension FunctionOptions {
    /// - Parameter others: the other functions the client holds, whose shared concurrency
    ///   keys must declare the same limits as this function's.
    func validateFlowControl(functionID id: String, triggers: [FunctionTrigger], others: [StepwiseFunction]) throws(FunctionDefinitionError) {
        func refuse(_ problem: String) -> FunctionDefinitionError {
            FunctionDefinitionError(description: "function '\(id)': \(problem)")
        }
        func check(_ expression: EventExpression?, _ role: String) throws(FunctionDefinitionError) {
            guard let expression else { return }
            do {
                try expression.validate()
            } catch {
                throw refuse("\(role): \(error)")
            }
        }
        for trigger in triggers {
            try check(trigger.registration?.condition, "the if of trigger \(trigger)")
        }
        guard concurrency.count <= 2 else {
            throw refuse("concurrency takes at most 2 limits, not \(concurrency.count)")
        }
        for (index, limit) in concurrency.enumerated() {
            guard limit.limit >= 1 else { throw refuse("concurrency limit must be at least 1, not \(limit.limit)") }
            if limit.key == nil, limit.scope != .function {
                throw refuse("a concurrency limit with scope \(limit.scope.rawValue) needs a key that names what it shares")
            }
            try check(limit.key, "concurrency key")
            for other in concurrency[..<index] where other.scope == limit.scope && other.key == limit.key {
                throw refuse("two concurrency limits with the same key and scope; keep one")
            }
        }
        for limit in concurrency where limit.scope != .function {
            for other in others where other.id != id {
                for theirs in other.options.concurrency where theirs.scope == limit.scope && theirs.key == limit.key && theirs.limit != limit.limit {
                    throw refuse(
                        "its concurrency key \(limit.key?.text ?? "") (scope \(limit.scope.rawValue)) has limit \(limit.limit), but function '\(other.id)' shares it with limit \(theirs.limit); a shared key needs one limit, or the function with the lower one starves")
                }
            }
        }
        if let throttle {
            guard throttle.limit >= 1 else { throw refuse("throttle limit must be at least 1, not \(throttle.limit)") }
            guard throttle.burst >= 0 else { throw refuse("throttle burst must not be negative, not \(throttle.burst)") }
            guard throttle.period >= .seconds(1), throttle.period <= .seconds(7 * 24 * 3600) else {
                throw refuse("throttle period must be from 1 second to 7 days, not \(throttle.period)")
            }
            try check(throttle.key, "throttle key")
        }
        if let rateLimit {
            guard idempotency == nil else {
                throw refuse("idempotency is a rate limit of one per key per 24 hours and cannot be combined with rateLimit; keep one")
            }
            guard rateLimit.limit >= 1 else { throw refuse("rateLimit limit must be at least 1, not \(rateLimit.limit)") }
            guard rateLimit.period >= .seconds(1), rateLimit.period <= .seconds(24 * 3600) else {
                throw refuse("rateLimit period must be from 1 second to 24 hours, not \(rateLimit.period)")
            }
            try check(rateLimit.key, "rateLimit key")
        }
        try check(idempotency, "idempotency key")
        try check(priority?.run, "priority")
    }
}
