/// A function defined with ``StepwiseClient/createFunction(id:triggers:retries:onFailure:_:)-(_,_,_,_,(StoredEvent,Step)->Output)``:
/// its id, what triggers it, how it retries, and its body.
public struct StepwiseFunction: Sendable {
    /// The body, with its output turned into JSON.
    typealias Handler = @Sendable (StoredEvent, Step) async throws -> JSON

    /// The function's id, unique within its app.
    public let id: String
    public let triggers: [FunctionTrigger]
    public let retries: RetryPolicy
    /// The events that cancel a run.
    public let cancelOn: [CancelOn]
    public let timeouts: FunctionTimeouts
    let handler: Handler
    /// The id of the function that handles this one's failures, if it has a handler.
    public let failureHandlerID: String?

    /// What a store keeps of the function's options.
    var settings: FunctionSettings { FunctionSettings(cancelOn: cancelOn) }

    init(
        id: String, triggers: [FunctionTrigger], retries: RetryPolicy, cancelOn: [CancelOn], timeouts: FunctionTimeouts,
        handler: @escaping Handler, failureHandlerID: String?
    ) {
        self.id = id
        self.triggers = triggers
        self.retries = retries
        self.cancelOn = cancelOn
        self.timeouts = timeouts
        self.handler = handler
        self.failureHandlerID = failureHandlerID
    }
}

/// How long a run may take before it is cancelled (with `stepwise/function.cancelled`).
public struct FunctionTimeouts: Sendable, Hashable {
    /// How long after its event a run may wait to start; `nil` for no limit.
    public var start: Duration?
    /// How long after it started a run may take to finish, sleeps and waits included; `nil`
    /// for no limit.
    public var finish: Duration?

    public init(start: Duration? = nil, finish: Duration? = nil) {
        self.start = start
        self.finish = finish
    }
}
