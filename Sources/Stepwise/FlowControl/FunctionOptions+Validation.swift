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
        if let debounce {
            guard debounce.period >= .seconds(1), debounce.period <= .seconds(7 * 24 * 3600) else {
                throw refuse("debounce period must be from 1 second to 7 days, not \(debounce.period)")
            }
            if let timeout = debounce.timeout, timeout < debounce.period {
                throw refuse("debounce timeout (\(timeout)) must not be shorter than its period (\(debounce.period))")
            }
            try check(debounce.key, "debounce key")
        }
        if let batch = batchEvents {
            guard batch.maxSize >= 2, batch.maxSize <= 1000 else {
                throw refuse("batchEvents maxSize must be from 2 to 1000, not \(batch.maxSize)")
            }
            guard batch.timeout >= .seconds(1), batch.timeout <= .seconds(3600) else {
                throw refuse("batchEvents timeout must be from 1 second to 1 hour, not \(batch.timeout)")
            }
            try check(batch.key, "batchEvents key")
            try check(batch.condition, "batchEvents if")
            // One run for many events has no one event to cancel it by, debounce by or
            // single it by: refused rather than silently choosing the first.
            for (combined, name) in [(!cancelOn.isEmpty, "cancelOn"), (debounce != nil, "debounce"), (singleton != nil, "singleton"),
                                     (rateLimit != nil, "rateLimit"), (idempotency != nil, "idempotency")] where combined {
                throw refuse("batchEvents cannot be combined with \(name): a batch's run has many events, not one to apply it by")
            }
        }
        try check(singleton?.key, "singleton key")
        if singleton != nil, debounce != nil {
            // A pending debounced run is itself active: every later event would meet it as a
            // singleton rather than move it on.
            throw refuse("singleton cannot be combined with debounce: the pending debounced run would hold the singleton key")
        }
    }
}
