extension Step {
    // MARK: - step.invoke through a handle

    /// Runs the function of `handle` with `data` as its event's data, and returns its output,
    /// typed as the function declared it: the handle `createFunction` returned carries both
    /// types, so neither is repeated here.
    ///
    /// ```swift
    /// let quote = try await step.invoke("price", priceFunction, data: PriceRequest(quantity: 3))
    /// ```
    ///
    /// Durable and exactly once, as ``invoke(_:function:data:timeout:as:)`` (which this calls).
    ///
    /// - Parameters:
    ///   - handle: a function of this client's app, as `createFunction` returned it.
    ///   - data: the invoked function's `event.data`; it must encode as a JSON object.
    ///   - timeout: how long to wait for the invoked run to end.
    /// - Returns: the invoked function's output, decoded.
    /// - Throws: ``StepError`` if the invoked run failed, was cancelled, or did not end within
    ///   `timeout`; now and on every replay.
    @discardableResult
    public func invoke<Payload, Output: Decodable>(
        _ id: String, _ handle: FunctionHandle<Payload, Output>, data: Payload, timeout: Duration = .seconds(24 * 3600)
    ) async throws -> Output {
        try await invoke(id, function: handle.function, data: EventPayload(data), timeout: timeout, as: Output.self)
    }

    /// Runs the function of `handle`, which returns nothing, and waits for its run to end;
    /// otherwise as the `invoke` through a handle with an output.
    public func invoke<Payload>(
        _ id: String, _ handle: FunctionHandle<Payload, Void>, data: Payload, timeout: Duration = .seconds(24 * 3600)
    ) async throws {
        let _: JSON = try await invoke(id, function: handle.function, data: EventPayload(data), timeout: timeout, as: JSON.self)
    }
}
