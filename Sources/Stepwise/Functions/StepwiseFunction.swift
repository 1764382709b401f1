/// A function defined with ``StepwiseClient/createFunction(id:triggers:retries:onFailure:_:)-(_,_,_,_,(StoredEvent,Step)->Output)``:
/// its id, what triggers it, how it retries, and its body.
public struct StepwiseFunction: Sendable {
    /// The body, with its output turned into JSON.
    typealias Handler = @Sendable (StoredEvent, Step) async throws -> JSON

    /// The function's id, unique within its app.
    public let id: String
    public let triggers: [FunctionTrigger]
    public let retries: RetryPolicy
    let handler: Handler
    /// The id of the function that handles this one's failures, if it has a handler.
    public let failureHandlerID: String?

    init(id: String, triggers: [FunctionTrigger], retries: RetryPolicy, handler: @escaping Handler, failureHandlerID: String?) {
        self.id = id
        self.triggers = triggers
        self.retries = retries
        self.handler = handler
        self.failureHandlerID = failureHandlerID
    }
}
