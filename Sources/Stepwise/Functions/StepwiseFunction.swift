/// A function defined with `createFunction`, untyped: its id, what triggers it, its options
/// and its body. What the engine holds; ``FunctionHandle`` is the typed handle users keep.
public struct StepwiseFunction: Sendable {
    /// The body, with its output turned into JSON.
    typealias Handler = @Sendable (StoredEvent, Step) async throws -> JSON

    /// The function's id, unique within its app.
    public let id: String
    /// What starts its runs; empty for a function declared ``FunctionTrigger/invokeOnly``.
    public let triggers: [FunctionTrigger]
    /// How it retries, is cancelled, times out and handles its failure.
    public let options: FunctionOptions
    let handler: Handler
    /// The id of the function that handles this one's failures, if it has a handler.
    public let failureHandlerID: String?

    /// What a store keeps of the function's options.
    var settings: FunctionSettings {
        FunctionSettings(
            name: options.name, cancelOn: options.cancelOn, concurrency: options.concurrency, throttle: options.throttle,
            rateLimit: options.rateLimit, idempotency: options.idempotency, priority: options.priority, debounce: options.debounce,
            batchEvents: options.batchEvents, singleton: options.singleton, startTimeout: options.timeouts.start)
    }

    /// Whether only `step.invoke` starts its runs (no event or schedule does).
    public var isInvokeOnly: Bool { triggers.isEmpty }

    /// The engine reads these often; they are the options' own.
    var retries: RetryPolicy { options.retries }
    var cancelOn: [CancelOn] { options.cancelOn }
    var timeouts: FunctionTimeouts { options.timeouts }

    init(id: String, triggers: [FunctionTrigger], options: FunctionOptions, handler: @escaping Handler, failureHandlerID: String?) {
        self.id = id
        self.triggers = triggers
        self.options = options
        self.handler = handler
        self.failureHandlerID = failureHandlerID
    }
}

/// What `createFunction` returns: the function, typed by the data its event carries and the
/// output it returns, so that `step.invoke` through it takes that data and returns that
/// output without being told the types again.
///
/// ```swift
/// let price = try stepwise.createFunction(id: "price", trigger: .invokeOnly, eventData: PriceRequest.self) { event, step in
///     Quote(total: event.data.quantity * 250)
/// }
/// // in another function:
/// let quote = try await step.invoke("price", price, data: PriceRequest(quantity: 3))   // a Quote
/// ```
///
/// A function defined without `eventData:` has `Payload == JSON`; one that returns nothing
/// has `Output == Void`.
public struct FunctionHandle<Payload: Codable & Sendable, Output: Sendable>: Sendable {
    /// The function, untyped, as ``StepwiseClient/functions`` lists it.
    public let function: StepwiseFunction

    init(_ function: StepwiseFunction) {
        self.function = function
    }

    /// The function's id, unique within its app.
    public var id: String { function.id }
    /// The function's options, as given to `createFunction`.
    public var options: FunctionOptions { function.options }
}

/// How long a run may take before it is cancelled (with `stepwise/function.cancelled`).
public struct FunctionTimeouts: Sendable, Hashable {
    /// How long after its event a run may wait to start; `nil` for no limit.
    public var start: Duration?
    /// How long after it started a run may take to finish, sleeps and waits included; `nil`
    /// for no limit.
    public var finish: Duration?

    /// Limits for starting and finishing; `nil` leaves one unlimited.
    public init(start: Duration? = nil, finish: Duration? = nil) {
        self.start = start
        self.finish = finish
    }
}
