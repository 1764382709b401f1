extension StepwiseClient {
    // Four overloads, no more: two because a function that returns nothing has `Void` as
    // its output, which is not `Encodable` (the `Void` ones are disfavoured, so that a
    // one-expression closure with a value is taken as the output, as `{ event, step in 42 }`);
    // and two because the event's data type cannot be an `eventData: Payload.Type = JSON.self`
    // default (Swift infers no generic parameter from a default that other parameters also
    // name). Triggers are variadic and everything else is in `FunctionOptions`, so neither a
    // second trigger nor a new setting adds an overload.

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
    ///   - triggers: the events or schedules that start runs, one or more; or
    ///     ``FunctionTrigger/invokeOnly`` alone for a function that only `step.invoke` runs.
    ///   - options: retries, cancellation, timeouts, a failure handler (see ``FunctionOptions``).
    ///   - handler: the body; its result, encoded as JSON, is the run's output.
    /// - Returns: the function's handle, typed for `step.invoke`.
    /// - Throws: ``FunctionDefinitionError`` for a duplicate or invalid id, no triggers, or an
    ///   invalid trigger or cancelOn condition.
    @discardableResult
    public func createFunction<Output: Encodable & Sendable>(
        id: String,
        trigger triggers: FunctionTrigger...,
        options: FunctionOptions = .default,
        _ handler: @escaping @Sendable (StoredEvent, Step) async throws -> Output
    ) throws -> FunctionHandle<JSON, Output> {
        let dates = configuration.dateEncoding
        return FunctionHandle(try define(id: id, triggers: triggers, options: options) { event, step in
            try Self.encodedOutput(try await handler(event, step), dates: dates)
        })
    }

    /// Defines a function that returns nothing (its output is `null`); otherwise as the
    /// `createFunction` whose handler returns an output.
    @discardableResult
    @_disfavoredOverload
    public func createFunction(
        id: String,
        trigger triggers: FunctionTrigger...,
        options: FunctionOptions = .default,
        _ handler: @escaping @Sendable (StoredEvent, Step) async throws -> Void
    ) throws -> FunctionHandle<JSON, Void> {
        FunctionHandle(try define(id: id, triggers: triggers, options: options) { event, step in
            try await handler(event, step)
            return .null
        })
    }

    /// Defines a function whose event data is decoded as `eventData` before its code runs,
    /// so the handler reads `event.data.cartId` rather than digging through JSON.
    ///
    /// ```swift
    /// try stepwise.createFunction(id: "send-receipt", trigger: .event("storefront/cart.checkout.completed"),
    ///                             eventData: CartCompleted.self) { event, step in
    ///     try await step.run("render-receipt") { try await render(cartId: event.data.cartId) }
    /// }
    /// ```
    ///
    /// An event whose data does not decode fails its run at once, without retries (the same
    /// data would fail again), with an error naming the field (`data.cartId: missing`).
    /// Otherwise as the untyped `createFunction`.
    @discardableResult
    public func createFunction<Payload: Codable & Sendable, Output: Encodable & Sendable>(
        id: String,
        trigger triggers: FunctionTrigger...,
        eventData: Payload.Type,
        options: FunctionOptions = .default,
        _ handler: @escaping @Sendable (TypedEvent<Payload>, Step) async throws -> Output
    ) throws -> FunctionHandle<Payload, Output> {
        let dates = configuration.dateEncoding
        return FunctionHandle(try define(id: id, triggers: triggers, options: options) { event, step in
            let typed = try TypedEvent<Payload>.decoding(event, dates: dates)
            return try Self.encodedOutput(try await handler(typed, step), dates: dates)
        })
    }

    /// Defines a function with typed event data that returns nothing (its output is `null`).
    @discardableResult
    @_disfavoredOverload
    public func createFunction<Payload: Codable & Sendable>(
        id: String,
        trigger triggers: FunctionTrigger...,
        eventData: Payload.Type,
        options: FunctionOptions = .default,
        _ handler: @escaping @Sendable (TypedEvent<Payload>, Step) async throws -> Void
    ) throws -> FunctionHandle<Payload, Void> {
        let dates = configuration.dateEncoding
        return FunctionHandle(try define(id: id, triggers: triggers, options: options) { event, step in
            try await handler(try TypedEvent<Payload>.decoding(event, dates: dates), step)
            return .null
        })
    }

    /// A function's output as the run records it; an output that cannot be encoded fails the
    /// run for good, since running the same code again would produce it again.
    private static func encodedOutput(_ output: some Encodable, dates: JSONDateEncoding) throws -> JSON {
        do {
            return try JSON.payload(encoding: output, dates: dates)
        } catch {
            throw NonRetriableError("the function's output could not be encoded", cause: error)
        }
    }

    /// The functions this client holds, by id.
    public var functions: [StepwiseFunction] { registry.all }

    private func define(
        id: String, triggers given: [FunctionTrigger], options: FunctionOptions, handler: @escaping StepwiseFunction.Handler
    ) throws(FunctionDefinitionError) -> StepwiseFunction {
        guard !id.isEmpty, !id.unicodeScalars.contains(where: { $0.properties.isWhitespace }) else {
            throw FunctionDefinitionError(description: "a function id must be non-empty and without whitespace, not '\(id)'")
        }
        guard !given.isEmpty else {
            throw FunctionDefinitionError(
                description: "function '\(id)' has no triggers; give `.invokeOnly` if only step.invoke should run it")
        }
        let triggers = given.filter { $0.kind != .invokeOnly }
        guard triggers.isEmpty || triggers.count == given.count else {
            throw FunctionDefinitionError(
                description: "function '\(id)' is invokeOnly and has triggers; every function can be invoked, so drop `.invokeOnly`")
        }
        try options.validateFlowControl(functionID: id, triggers: triggers, others: registry.all)
        for cancellation in options.cancelOn {
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
        if let onFailure = options.onFailure {
            let failureID = "\(id)-failure"
            failureHandlerID = failureID
            let trigger = FunctionTrigger(registration: TriggerRegistration(
                pattern: EventPattern(SystemEvent.functionFailed),
                conditions: ["data.function_id": .string(id), "data.app_id": .string(self.id)]))
            // Its own options: the function's retries, and none of its cancelOn or timeouts
            // (the run they would cancel has ended).
            let failureOptions = FunctionOptions(name: options.name.map { "\($0) (failure)" }, retries: options.retries)
            definitions.append(StepwiseFunction(
                id: failureID, triggers: [trigger], options: failureOptions,
                handler: { event, step in
                    try await onFailure(event, step)
                    return .null
                },
                failureHandlerID: nil))
        }
        let function = StepwiseFunction(
            id: id, triggers: triggers, options: options, handler: handler, failureHandlerID: failureHandlerID)
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
