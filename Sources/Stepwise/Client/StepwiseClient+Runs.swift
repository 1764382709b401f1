import OrderedCollections

extension StepwiseClient {
    /// Cancels a run that has not ended: it ends `cancelled` and runs no further step, and
    /// `stepwise/function.cancelled` is emitted (with `function_id`, `app_id`, `run_id` and the
    /// triggering `event`). A step body already running finishes, but its result is not
    /// recorded.
    ///
    /// - Returns: whether the run was cancelled; `false` when it had already ended or does
    ///   not exist in this client's environment.
    @discardableResult
    public func cancelRun(_ id: RunID) async throws -> Bool {
        try await cancelRun(id, reason: "api")
    }

    /// Cancels a run, saying why in its `stepwise/function.cancelled` event (`data.reason`).
    func cancelRun(_ id: RunID, reason: String) async throws -> Bool {
        guard let run = try await store.run(id: id, environment: configuration.environment), !run.status.isFinal else {
            return false
        }
        let event = try await store.event(id: run.eventID, environment: configuration.environment)
        var data: OrderedDictionary<String, JSON> = [
            "function_id": .string(run.functionID), "app_id": .string(run.appID), "run_id": .string(run.id.description),
            "reason": .string(reason),
        ]
        if let event { data["event"] = SystemEvent.eventSummary(event) }
        let now = configuration.clock.now()
        let batch = try eventBatch([Event(name: SystemEvent.functionCancelled, data: .object(data))], receivedAt: now, allowReservedNames: true)
        let cancelled = try await store.cancel(runID: id, environment: configuration.environment, now: now, events: batch)
        if cancelled {
            logger.info("run cancelled", metadata: ["stepwise.run": "\(id)", "stepwise.function": "\(run.functionID)"])
        }
        return cancelled
    }

    /// The run with this id in this client's environment, or `nil`.
    public func run(id: RunID) async throws -> RunRecord? {
        try await store.run(id: id, environment: configuration.environment)
    }

    /// A run's recorded steps, in the order they were first recorded.
    public func steps(ofRun id: RunID) async throws -> [StepRecord] {
        try await store.steps(runID: id)
    }
}

