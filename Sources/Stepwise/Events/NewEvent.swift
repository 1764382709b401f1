/// An event that passed validation, with its payloads already written as JSON text: what
/// `send` hands a ``Store`` to append. Made only by validation, so a store can trust it.
public struct NewEvent: Sendable {
    public let name: String
    public let data: JSON
    /// `data` as compact JSON text, written once during validation and stored as is.
    public let dataText: String
    public let user: JSON?
    /// `user` as compact JSON text.
    public let userText: String?
    public let dedupeID: String?
    /// When the event happened, in milliseconds since the Unix epoch.
    public let ts: Int64
    public let v: String?
    /// Whether the sender gave `ts`, rather than it being the receive time: a retried
    /// request is received later, so only a `ts` the sender gave must be the same again.
    /// Public so that a store outside this module can tell a seeded retry from another
    /// request (``EventBatch/idSeed``).
    public let timestampGiven: Bool
    /// The trace of the code that sent the event (``TraceContext``), stored with it so that
    /// the runs it triggers continue that trace; `nil` when no tracer was recording.
    public let traceContext: TraceContext?

    init(
        name: String, data: JSON, dataText: String, user: JSON?, userText: String?, dedupeID: String?, ts: Int64, v: String?,
        timestampGiven: Bool = true, traceContext: TraceContext? = nil
    ) {
        self.name = name
        self.data = data
        self.dataText = dataText
        self.user = user
        self.userText = userText
        self.dedupeID = dedupeID
        self.ts = ts
        self.v = v
        self.timestampGiven = timestampGiven
        self.traceContext = traceContext
    }

    /// The same event in the trace `traceContext`.
    func with(traceContext: TraceContext?) -> NewEvent {
        NewEvent(
            name: name, data: data, dataText: dataText, user: user, userText: userText, dedupeID: dedupeID, ts: ts, v: v,
            timestampGiven: timestampGiven, traceContext: traceContext)
    }
}

extension NewEvent {
    /// A system event made inside a store's transaction (a `cancelOn` cancellation), where
    /// there is no client to validate it: its name is one of ``SystemEvent``'s and its data an
    /// object, which is all validation would check.
    init(systemEvent name: String, data: JSON, at time: Int64) {
        self.init(name: name, data: data, dataText: data.serialized, user: nil, userText: nil, dedupeID: nil, ts: time, v: nil)
    }
}
