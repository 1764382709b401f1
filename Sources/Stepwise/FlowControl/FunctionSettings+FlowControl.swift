/// The flow-control options as ``FunctionSettings`` keeps them: expressions as their text,
/// durations in milliseconds. A part that does not read is left out, as the rest of the
/// settings are.
extension FunctionSettings {
    func addFlowControl(to members: inout JSON.Object) {
        if !concurrency.isEmpty {
            members["concurrency"] = .array(concurrency.map { limit in
                var object: JSON.Object = ["limit": .int(Int64(limit.limit)), "scope": .string(limit.scope.rawValue)]
                if let key = limit.key { object["key"] = .string(key.text) }
                return .object(object)
            })
        }
        if let throttle {
            var object: JSON.Object = [
                "limit": .int(Int64(throttle.limit)), "period_ms": .int(throttle.period.milliseconds), "burst": .int(Int64(throttle.burst)),
            ]
            if let key = throttle.key { object["key"] = .string(key.text) }
            members["throttle"] = .object(object)
        }
        if let rateLimit {
            var object: JSON.Object = ["limit": .int(Int64(rateLimit.limit)), "period_ms": .int(rateLimit.period.milliseconds)]
            if let key = rateLimit.key { object["key"] = .string(key.text) }
            members["rate_limit"] = .object(object)
        }
        if let idempotency { members["idempotency"] = .string(idempotency.text) }
        if let priority { members["priority"] = .string(priority.run.text) }
        if let debounce {
            var object: JSON.Object = ["period_ms": .int(debounce.period.milliseconds)]
            if let key = debounce.key { object["key"] = .string(key.text) }
            if let timeout = debounce.timeout { object["timeout_ms"] = .int(timeout.milliseconds) }
            members["debounce"] = .object(object)
        }
        if let batchEvents {
            var object: JSON.Object = ["max_size": .int(Int64(batchEvents.maxSize)), "timeout_ms": .int(batchEvents.timeout.milliseconds)]
            if let key = batchEvents.key { object["key"] = .string(key.text) }
            if let condition = batchEvents.condition { object["if"] = .string(condition.text) }
            members["batch_events"] = .object(object)
        }
        if let startTimeout, throttle != nil { members["start_timeout_ms"] = .int(startTimeout.milliseconds) }
        if let singleton {
            var object: JSON.Object = ["mode": .string(singleton.mode.rawValue)]
            if let key = singleton.key { object["key"] = .string(key.text) }
            members["singleton"] = .object(object)
        }
    }

    static func admissionControl(_ json: JSON) -> (Debounce?, BatchEvents?, Singleton?) {
        func expression(_ value: JSON?) -> EventExpression? {
            value?.stringValue.flatMap { try? EventExpression(parsing: $0) }
        }
        var debounce: Debounce?
        if let object = json["debounce"], let period = object["period_ms"]?.intValue {
            debounce = Debounce(period: .milliseconds(period), key: expression(object["key"]), timeout: object["timeout_ms"]?.intValue.map { .milliseconds($0) })
        }
        var batch: BatchEvents?
        if let object = json["batch_events"], let size = object["max_size"]?.intValue, let timeout = object["timeout_ms"]?.intValue {
            batch = BatchEvents(maxSize: Int(size), timeout: .milliseconds(timeout), key: expression(object["key"]), if: expression(object["if"]))
        }
        var singleton: Singleton?
        if let object = json["singleton"], let mode = object["mode"]?.stringValue.flatMap(Singleton.Mode.init(rawValue:)) {
            singleton = Singleton(key: expression(object["key"]), mode: mode)
        }
        return (debounce, batch, singleton)
    }

    static func flowControl(_ json: JSON) -> ([ConcurrencyLimit], Throttle?, RateLimit?, EventExpression?, Priority?) {
        func expression(_ value: JSON?) -> EventExpression? {
            value?.stringValue.flatMap { try? EventExpression(parsing: $0) }
        }
        let concurrency: [ConcurrencyLimit] = json["concurrency"]?.arrayValue?.compactMap { object in
            guard let limit = object["limit"]?.intValue, limit > 0 else { return nil }
            return ConcurrencyLimit(
                limit: Int(limit), key: expression(object["key"]),
                scope: object["scope"]?.stringValue.flatMap(ConcurrencyScope.init(rawValue:)) ?? .function)
        } ?? []
        var throttle: Throttle?
        if let object = json["throttle"], let limit = object["limit"]?.intValue, let period = object["period_ms"]?.intValue {
            throttle = Throttle(
                limit: Int(limit), period: .milliseconds(period), burst: Int(object["burst"]?.intValue ?? 0), key: expression(object["key"]))
        }
        var rateLimit: RateLimit?
        if let object = json["rate_limit"], let limit = object["limit"]?.intValue, let period = object["period_ms"]?.intValue {
            rateLimit = RateLimit(limit: Int(limit), period: .milliseconds(period), key: expression(object["key"]))
        }
        return (concurrency, throttle, rateLimit, expression(json["idempotency"]), expression(json["priority"]).map(Priority.init(run:)))
    }

    /// Whether any flow control applies to the function's runs: a store may skip the work
    /// of applying it for the many functions that have none.
    public var hasFlowControl: Bool {
        !concurrency.isEmpty || throttle != nil || rateLimit != nil || idempotency != nil || priority != nil || debounce != nil
            || batchEvents != nil || singleton != nil
    }
}
