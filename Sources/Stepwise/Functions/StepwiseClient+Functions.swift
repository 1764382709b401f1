extension StepwiseClient {
    /// Defines a function: `handler` runs once for every event that matches one of
    /// `triggers`, as a durable run made of memoized steps.
    ///
    /// ```swift
    /// try stepwise.createFunction(id: "send-receipt", trigger: .event("storefront/cart.checkout.completed")) { event, step in
    ///     let receipt = try await step.run("render-receipt") { try await render(event.data) }
    ///     try await step.sendEvent("receipt-rendered", Event(name: "storefront/receipt.rendered", data: receipt))
    ///     return receipt.id
    /// }
    /// ```
    ///
    /// The handler is replayed from the top each time the run resumes (after a retry, a
    /// restart, or on another worker): steps that already completed return their recorded
    /// results without running again, so code between steps must be deterministic.
    ///
    /// - Parameters:
    ///   - id: unique within the app; it names the function in the store, so keep it stable.
    ///   - triggers: the events that start runs.
    ///   - retries: how failed steps and the function are retried (4 retries by default).
    ///   - cancelOn: events that cancel a run (see ``CancelOn``).
    ///   - timeouts: how long a run may wait to start, and to finish, before it is cancelled.
    ///   - onFailure: runs once when a run of this function fails for good, with the
    ///     `stepwise/function.failed` event (its `data` holds `error` and the triggering `event`).
    /// - Returns: the function's definition.
    /// - Throws: ``FunctionDefinitionError`` for a duplicate or empty id, or no triggers.
    @discardableResult
    public func createFunction<Output: Encodable & Sendable>(
        id: String,
        triggers: [FunctionTrigger],
        retries: RetryPolicy = .default,
        cancelOn: [CancelOn] = [],
        timeouts: FunctionTimeouts = FunctionTimeouts(),
        onFailure: (@Sendable (StoredEvent, Step) async throws -> Void)? = nil,
        _ handler: @escaping @Sendable (StoredEvent, Step) async throws -> Output
    ) throws -> StepwiseFunction {
        let dates = configuration.dateEncoding
        return try define(id: id, triggers: triggers, retries: retries, cancelOn: cancelOn, timeouts: timeouts, onFailure: onFailure) { event, step in
            let output = try await handler(event, step)
            do {
                return try JSON.payload(encoding: output, dates: dates)
            } catch {
                throw NonRetriableError("the function's output could not be encoded", cause: error)
            }
        }
    }

    /// Defines a function with one trigger. See ``createFunction(id:triggers:retries:onFailure:_:)-(_,_,_,_,(StoredEvent,Step)->Output)``.
    @discardableResult
    public func createFunction<Output: Encodable & Sendable>(
        id: String,
        trigger: FunctionTrigger,
        retries: RetryPolicy = .default,
        cancelOn: [CancelOn] = [],
        timeouts: FunctionTimeouts = FunctionTimeouts(),
        onFailure: (@Sendable (StoredEvent, Step) async throws -> Void)? = nil,
        _ handler: @escaping @Sendable (StoredEvent, Step) async throws -> Output
    ) throws -> StepwiseFunction {
        try createFunction(
            id: id, triggers: [trigger], retries: retries, cancelOn: cancelOn, timeouts: timeouts, onFailure: onFailure, handler)
    }

    /// Defines a function that returns nothing (its output is `null`).
    ///
    /// Disfavoured, so that a one-expression closure with a value is taken as the output.
    @discardableResult
    @_disfavoredOverload
    public func createFunction(
        id: String,
        triggers: [FunctionTrigger],
        retries: RetryPolicy = .default,
        cancelOn: [CancelOn] = [],
        timeouts: FunctionTimeouts = FunctionTimeouts(),
        onFailure: (@Sendable (StoredEvent, Step) async throws -> Void)? = nil,
        _ handler: @escaping @Sendable (StoredEvent, Step) async throws -> Void
    ) throws -> StepwiseFunction {
        try define(id: id, triggers: triggers, retries: retries, cancelOn: cancelOn, timeouts: timeouts, onFailure: onFailure) { event, step in
            try await handler(event, step)
            return .null
        }
    }

    /// Defines a function with one trigger that returns nothing.
    @discardableResult
    @_disfavoredOverload
    public func createFunction(
        id: String,
        trigger: FunctionTrigger,
        retries: RetryPolicy = .default,
        cancelOn: [CancelOn] = [],
        timeouts: FunctionTimeouts = FunctionTimeouts(),
        onFailure: (@Sendable (StoredEvent, Step) async throws -> Void)? = nil,
        _ handler: @escaping @Sendable (StoredEvent, Step) async throws -> Void
    ) throws -> StepwiseFunction {
        try createFunction(
            id: id, triggers: [trigger], retries: retries, cancelOn: cancelOn, timeouts: timeouts, onFailure: onFailure, handler)
    }

    /// The functions this client holds, by id.
    public var functions: [StepwiseFunction] { registry.all }

    private func define(
        id: String,
        triggers: [FunctionTrigger],
        retries: RetryPolicy,
        cancelOn: [CancelOn],
        timeouts: FunctionTimeouts,
        onFailure: (@Sendable (StoredEvent, Step) async throws -> Void)?,
        handler: @escaping StepwiseFunction.Handler
    ) throws(FunctionDefinitionError) -> StepwiseFunction {
        guard !id.isEmpty, !id.unicodeScalars.contains(where: { $0.properties.isWhitespace }) else {
            throw FunctionDefinitionError(description: "a function id must be non-empty and without whitespace, not '\(id)'")
        }
        guard !triggers.isEmpty else {
            throw FunctionDefinitionError(description: "function '\(id)' has no triggers")
        }
        for cancellation in cancelOn {
            guard let condition = cancellation.condition else { continue }
            do {
                _ = try EventCondition(condition)
            } catch {
                throw FunctionDefinitionError(description: "function '\(id)', cancelOn \(cancellation.eventName): \(error)")
            }
        }
        for trigger in triggers {
            switch trigger.kind {
            case .event(let registration) where registration.pattern.text.isEmpty && !registration.pattern.isPrefix:
                throw FunctionDefinitionError(description: "function '\(id)' has an empty trigger (\(trigger))")
            case .cron(let expression, let timeZone):
                do {
                    _ = try CronSchedule(expression, timeZone: timeZone)
                } catch {
                    throw FunctionDefinitionError(description: "function '\(id)': \(error)")
                }
            default:
                break
            }
        }
        var definitions: [StepwiseFunction] = []
        var failureHandlerID: String?
        if let onFailure {
            let failureID = "\(id)-failure"
            failureHandlerID = failureID
            let trigger = FunctionTrigger(registration: TriggerRegistration(
                pattern: EventPattern(SystemEvent.functionFailed),
                conditions: ["data.function_id": .string(id), "data.app_id": .string(self.id)]))
            definitions.append(StepwiseFunction(
                id: failureID, triggers: [trigger], retries: retries, cancelOn: [], timeouts: FunctionTimeouts(),
                handler: { event, step in
                    try await onFailure(event, step)
                    return .null
                },
                failureHandlerID: nil))
        }
        let function = StepwiseFunction(
            id: id, triggers: triggers, retries: retries, cancelOn: cancelOn, timeouts: timeouts, handler: handler,
            failureHandlerID: failureHandlerID)
        definitions.insert(function, at: 0)
        try registry.add(definitions)
        return function
    }

    /// Registers this client's functions in the store as the app's whole set, so that events
    /// accepted from now on, by any process on the store, create their runs.
    ///
    /// A worker does this when it starts, and `send` adds this client's functions before its
    /// events; call it yourself when another process will send events before any worker of
    /// this app has started.
    public func registerFunctions() async throws {
        try await registerFunctions(completeSet: true)
    }

    /// Registers this client's functions in the store if it has not seen the latest set, so
    /// that events accepted by any process on the store create their runs.
    ///
    /// - Parameter completeSet: whether to remove the app's stored functions that this client
    ///   does not hold (a worker starting), or only add this client's (before a send).
    func registerFunctions(completeSet: Bool) async throws {
        let generation = registry.unregisteredGeneration
        guard completeSet || generation != nil else { return }
        let now = configuration.clock.now()
        let functions = registry.all.map { function in
            FunctionRegistration.Function(
                id: function.id, triggers: function.triggers.compactMap(\.registration), settings: function.settings,
                schedules: function.triggers.compactMap { trigger -> ScheduleRegistration? in
                    guard case .cron(let expression, let timeZone) = trigger.kind,
                          let schedule = try? CronSchedule(expression, timeZone: timeZone) else { return nil }
                    return ScheduleRegistration(schedule, after: now)
                })
        }
        guard completeSet || !functions.isEmpty else { return }
        try await store.register(FunctionRegistration(
            environment: configuration.environment, appID: id, functions: functions, isCompleteSet: completeSet, now: now))
        if let generation { registry.markRegistered(generation) }
    }
}
