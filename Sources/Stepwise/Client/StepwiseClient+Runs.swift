
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
        // An event that cannot be read is left out of the system event rather than keeping the
        // run from being cancelled (invariant 7).
        let event: StoredEvent?
        do {
            event = try await store.event(id: run.eventID, environment: configuration.environment)
        } catch let failure as any StoreFailure where failure.storeFailureKind == .unreadableRecord {
            event = nil
        }
        let now = configuration.clock.now()
        let batch = systemEventBatch([SystemEvent.cancelled(run: run, triggeringEvent: event, reason: reason, at: now)], at: now)
        let cancelled = try await store.cancel(
            runID: id, environment: configuration.environment, now: now, reason: .runCancelled(reason: reason), events: batch)
        if cancelled {
            logger.info("run cancelled", metadata: ["stepwise.run": "\(id)", "stepwise.function": "\(run.functionID)"])
        }
        return cancelled
    }

    /// The run with this id in this client's environment, or `nil`.
    public func run(id: RunID) async throws -> RunRecord? {
        try await store.run(id: id, environment: configuration.environment)
    }

    /// A page of this client's environment's runs, newest first.
    ///
    /// - Parameter before: the last run of the previous page, to list the runs older than it.
    public func runs(
        function functionID: String? = nil, status: RunStatus? = nil, event eventID: EventID? = nil, limit: Int = 50, before: RunID? = nil
    ) async throws -> [RunRecord] {
        try await store.runs(RunQuery(
            environment: configuration.environment, functionID: functionID, status: status, eventID: eventID, limit: limit, before: before))
    }

    /// A page of this client's environment's runs, newest first, with the cursor of the next
    /// page: `nil` when no older run matches, so the last page is never an empty one.
    public func runPage(function functionID: String? = nil, status: RunStatus? = nil, limit: Int = 50, before: RunID? = nil) async throws -> RunPage {
        let runs = try await self.runs(function: functionID, status: status, limit: limit, before: before)
        guard runs.count == limit, let last = runs.last else { return RunPage(runs: runs, nextCursor: nil) }
        let older = try await self.runs(function: functionID, status: status, limit: 1, before: last.id)
        return RunPage(runs: runs, nextCursor: older.isEmpty ? nil : last.id)
    }

    /// Starts a new run of the same function on the same event as the run `id`, however that
    /// one ended: for a run that failed on a bug since fixed, say.
    ///
    /// - Returns: the new run, queued; `nil` when no run `id` exists in this environment.
    /// - Throws: ``RerunError`` when no app registers the run's function any more.
    public func rerun(_ id: RunID) async throws -> RunRecord? {
        let run = try await store.rerun(runID: id, environment: configuration.environment, now: configuration.clock.now())
        if let run {
            logger.info("run rerun", metadata: ["stepwise.run": "\(run.id)", "stepwise.rerunOf": "\(id)"])
        }
        return run
    }

    /// Starts a run of the function `functionID` with `data` as its event's data, from outside
    /// any run: what the dashboard's invoke form, `POST /v1/functions/{id}/invoke` and
    /// `stepwise functions invoke` do, to try a function out or to run one that no event
    /// triggers. As Inngest does, the run's event is a `stepwise/function.invoked`
    /// (`inngest/function.invoked` there), stored with the run in one transaction, so the run
    /// is durable once this returns and its page shows how it started; the function's
    /// triggers and their `if` do not matter.
    ///
    /// ```swift
    /// let run = try await stepwise.invoke("send-receipt", data: ["cartId": "ed12c8bde"])
    /// ```
    ///
    /// - Parameters:
    ///   - functionID: a function registered in this client's environment by any app on the
    ///     store (this client's own are registered first).
    ///   - data: the run's `event.data`; it must encode as a JSON object within the
    ///     configured event size limit.
    ///   - appID: the app whose function it is, needed only when several apps register a
    ///     function with this id.
    /// - Returns: the new run, queued.
    /// - Throws: ``InvokeError`` when no app registers the function (or several do and
    ///   `appID` is `nil`), ``EventValidationError`` for data that is not a JSON object or
    ///   too large; nothing is stored then.
    @discardableResult
    public func invoke(_ functionID: String, data: EventPayload = [:], app appID: String? = nil) async throws -> RunRecord {
        let environment = configuration.environment
        try EnvironmentName.validate(environment)
        try await registerFunctions(completeSet: false)
        let app: String
        if let appID {
            app = appID
        } else if registry.function(id: functionID) != nil {
            app = id
        } else {
            let apps = try await store.functions(environment: environment).filter { $0.id == functionID }.map(\.appID)
            guard let only = apps.first else { throw InvokeError(functionID: functionID, appID: nil, environment: environment) }
            guard apps.count == 1 else { throw InvokeError(functionID: functionID, appID: nil, environment: environment, isAmbiguous: true) }
            app = only
        }
        var event = Event(name: SystemEvent.functionInvoked)
        event.data = data
        let batch = try eventBatch(
            [event], receivedAt: configuration.clock.now(), allowReservedNames: true, userPayloads: true, limits: configuration.limits)
        let run = try await store.invoke(appID: app, functionID: functionID, batch: batch)
        logger.info("function invoked", metadata: [
            "stepwise.run": "\(run.id)", "stepwise.function": "\(functionID)", "stepwise.app": "\(app)", "stepwise.event": "\(run.eventID)",
        ])
        return run
    }

    /// The environments in use on the store: those an app registered functions in, or events
    /// were stored in (branch environments included), sorted by name.
    public func environments() async throws -> [String] {
        try await store.environments()
    }

    /// The functions registered in this client's environment, by every app on the store
    /// (each app's worker registers its own when it starts), by app and id.
    public func functions() async throws -> [FunctionRecord] {
        try await store.functions(environment: configuration.environment)
    }

    /// A run's recorded steps, in the order they were first recorded.
    ///
    /// - Throws: ``UserDecryptionError`` naming the key when the event a wait or an invoke
    ///   recorded cannot be decrypted.
    public func steps(ofRun id: RunID) async throws -> [StepRecord] {
        try await store.steps(runID: id).map { step throws(UserDecryptionError) in
            // Only these record an event (with its `user` sealed as it is stored).
            guard step.kind == .waitForEvent || step.kind == .invoke, let output = step.output else { return step }
            return StepRecord(
                runID: step.runID, key: step.key, stepID: step.stepID, kind: step.kind, status: step.status,
                output: try configuration.userEncryption.openAll(in: output), error: step.error,
                failedAttempts: step.failedAttempts, startedAt: step.startedAt, endedAt: step.endedAt)
        }
    }

    /// Every attempt of a run's steps (`step.run` and `step.sendEvent`), by step, then by
    /// number: a run's timeline (``StepAttempt/timeline(steps:recorded:)``).
    public func attempts(ofRun id: RunID) async throws -> [StepAttempt] {
        async let steps = store.steps(runID: id)
        async let recorded = store.attempts(runID: id)
        return StepAttempt.timeline(steps: try await steps, recorded: try await recorded)
    }
}

