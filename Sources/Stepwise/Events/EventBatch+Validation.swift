extension EventBatch {
    /// A batch of user events, validated as `send` validates them: the way to make a batch
    /// outside a client, for a store's own tests or a tool that appends to a store directly.
    /// ``NewEvent`` has no other public initializer, so a store can trust every event it is
    /// handed.
    ///
    /// - Throws: ``EventValidationError`` naming the event and the field, as `send` would.
    @_spi(StoreImplementation)
    public init(
        validating events: [Event], environment: String, receivedAt: Int64, dedupeWindow: Duration = .seconds(86_400),
        limits: EventLimits = .default, idSeed: EventIDSeed? = nil, afterCommit: (@Sendable ([StoredEvent]) -> Void)? = nil
    ) throws(EventValidationError) {
        let prepared = try EventValidator(limits: limits).validate(events, receivedAt: receivedAt)
        self.init(
            environment: environment, events: prepared, receivedAt: receivedAt, dedupeWindow: dedupeWindow.milliseconds, idSeed: idSeed,
            afterCommit: afterCommit)
    }
}
