/// Working out a run's flow keys from its function's options and its event: once, as the
/// event is accepted, by whichever process accepts it.
extension RunFlow {
    /// The keys of a run that fan-out admits: every key must evaluate, or the event starts no
    /// run (the caller records why), because a run counted under a wrong key would break the
    /// very limit the key is for.
    static func admitting(
        settings: FunctionSettings, environment: String, appID: String, functionID: String, envelope: JSON
    ) throws(ExpressionEvaluationError) -> RunFlow {
        var flow = RunFlow()
        flow.concurrency = try settings.concurrency.map { limit throws(ExpressionEvaluationError) in
            try concurrencyKey(limit, value: limit.key.map { key throws(ExpressionEvaluationError) in try key.evaluateKey(event: envelope) },
                               environment: environment, appID: appID, functionID: functionID)
        }
        if let throttle = settings.throttle {
            flow.throttle = throttleKey(
                throttle, value: try throttle.key.map { key throws(ExpressionEvaluationError) in try key.evaluateKey(event: envelope) },
                environment: environment, appID: appID, functionID: functionID, startTimeout: settings.startTimeout)
        }
        if let idempotency = settings.idempotency {
            let value = try idempotency.evaluate(event: envelope)
            if value != .bool(false) {
                flow.rateLimit = Limited(
                    key: EventExpression.keyText(of: value), limit: 1, periodMilliseconds: 24 * 3600 * 1000, isIdempotency: true)
            }
        } else if let rateLimit = settings.rateLimit {
            let value = try rateLimit.key.map { key throws(ExpressionEvaluationError) in try key.evaluate(event: envelope) } ?? .string("")
            if value != .bool(false) {
                flow.rateLimit = Limited(
                    key: EventExpression.keyText(of: value), limit: rateLimit.limit, periodMilliseconds: rateLimit.period.milliseconds,
                    isIdempotency: false)
            }
        }
        if let debounce = settings.debounce {
            flow.debounce = Debounced(
                key: try debounce.key.map { key throws(ExpressionEvaluationError) in try key.evaluateKey(event: envelope) } ?? "",
                periodMilliseconds: debounce.period.milliseconds, timeoutMilliseconds: debounce.timeout?.milliseconds,
                eventTimestamp: envelope["ts"]?.intValue ?? 0)
        }
        // An event for which the batch's `if` does not hold, or is no boolean, runs alone.
        if let batch = settings.batchEvents, batch.condition.map({ (try? $0.evaluateBoolean(event: envelope)) ?? false }) ?? true {
            flow.batch = Batched(
                key: try batch.key.map { key throws(ExpressionEvaluationError) in try key.evaluateKey(event: envelope) } ?? "",
                maxSize: batch.maxSize, timeoutMilliseconds: batch.timeout.milliseconds)
        }
        if let singleton = settings.singleton {
            let value = try singleton.key.map { key throws(ExpressionEvaluationError) in try key.evaluate(event: envelope) } ?? .string("")
            if value != .bool(false) { flow.singleton = Singled(key: EventExpression.keyText(of: value), mode: singleton.mode) }
        }
        flow.setPriority(settings.priority, envelope: envelope)
        return flow
    }

    /// The keys of a run no rate limit applies to (an invoke, a schedule's tick): a key that
    /// cannot be evaluated counts under `null`, with a note, since such a run cannot be turned
    /// away.
    static func dispatching(settings: FunctionSettings, environment: String, appID: String, functionID: String, envelope: JSON) -> RunFlow {
        var flow = RunFlow()
        func value(_ key: EventExpression?) -> String? {
            guard let key else { return nil }
            do {
                return try key.evaluateKey(event: envelope)
            } catch {
                flow.notes.append("\(error); counted under the key null")
                return "null"
            }
        }
        flow.concurrency = settings.concurrency.map { limit in
            concurrencyKey(limit, value: value(limit.key), environment: environment, appID: appID, functionID: functionID)
        }
        if let throttle = settings.throttle {
            flow.throttle = throttleKey(
                throttle, value: value(throttle.key), environment: environment, appID: appID, functionID: functionID,
                startTimeout: settings.startTimeout)
        }
        flow.setPriority(settings.priority, envelope: envelope)
        return flow
    }

    /// A key's identity: the scope, where it counts, and the value, as a JSON array so that no
    /// value can make two identities equal.
    private static func identity(_ parts: [String]) -> String {
        JSON.array(parts.map { .string($0) }).serialized
    }

    private static func concurrencyKey(
        _ limit: ConcurrencyLimit, value: String?, environment: String, appID: String, functionID: String
    ) -> Concurrency {
        let value = value ?? ""
        let parts: [String]
        switch limit.scope {
        case .function: parts = ["function", environment, appID, functionID, value]
        case .environment: parts = ["environment", environment, value]
        case .store: parts = ["store", value]
        }
        return Concurrency(identity: identity(parts), value: value, scope: limit.scope, limit: limit.limit)
    }

    private static func throttleKey(
        _ throttle: Throttle, value: String?, environment: String, appID: String, functionID: String, startTimeout: Duration?
    ) -> Throttled {
        let value = value ?? ""
        return Throttled(
            identity: identity(["throttle", environment, appID, functionID, value]), value: value, limit: throttle.limit,
            periodMilliseconds: throttle.period.milliseconds, burst: throttle.burst, startTimeoutMilliseconds: startTimeout?.milliseconds)
    }

    /// The priority, clamped to ±``Priority/maximumSeconds``; one that is not an integer
    /// counts as 0, with a note, as the run should not be lost over its place in the queue.
    private mutating func setPriority(_ priority: Priority?, envelope: JSON) {
        guard let priority else { return }
        do {
            let seconds = try priority.run.evaluateInteger(event: envelope)
            prioritySeconds = min(Priority.maximumSeconds, max(-Priority.maximumSeconds, seconds))
            if seconds != prioritySeconds {
                notes.append("priority \(seconds) s clamped to \(prioritySeconds) s")
            }
        } catch {
            notes.append("\(error); priority 0")
        }
    }
}
