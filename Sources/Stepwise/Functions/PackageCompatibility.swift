// The old spellings the store conformance suite (StepwiseTesting/StoreConformance) still
// uses, kept at `package` access so that users never see them, while the suite is being
// reworked on another branch. Delete this file once the suite calls
// `createFunction(id:trigger:options:_:)` and `step.invoke(_:_:data:timeout:)`.

extension StepwiseClient {
    /// `createFunction` with `cancelOn` beside the trigger, as before ``FunctionOptions``.
    @discardableResult
    package func createFunction(
        id: String, trigger: FunctionTrigger, cancelOn: [CancelOn], _ handler: @escaping @Sendable (StoredEvent, Step) async throws -> Void
    ) throws -> FunctionHandle<JSON, Void> {
        try createFunction(id: id, trigger: trigger, options: FunctionOptions(cancelOn: cancelOn), handler)
    }
}

extension Step {
    /// `step.invoke` through a handle with untyped data and the output type spelled out, as
    /// before handles were typed.
    package func invoke<Payload, Declared, Output: Decodable & Sendable>(
        _ id: String, function handle: FunctionHandle<Payload, Declared>, data: EventPayload = [:],
        timeout: Duration = .seconds(24 * 3600), as type: Output.Type = Output.self
    ) async throws -> Output {
        try await invoke(id, function: handle.function, data: data, timeout: timeout, as: type)
    }
}
