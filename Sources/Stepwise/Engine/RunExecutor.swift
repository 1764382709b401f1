import Logging
import Tracing

/// Replays one claimed run: calls the function's closure with the run's event and steps, and
/// commits how the run ends (completed, retried, failed, or released on shutdown).
struct RunExecutor: Sendable {
    let client: StepwiseClient
    let logger: Logger

    /// Executes `claimed` in its span: a CONSUMER span named after the function, whose parent
    /// is the context its event was sent in, so that every execution of the run (hours apart,
    /// in any process) joins the sender's trace; the other events of a batch are links.
    ///
    /// - Parameter claimNext: what to claim in the transaction of the checkpoint that lets
    ///   the run go (see ``Step``), asked when that checkpoint is made.
    /// - Returns: the runs that checkpoint claimed, now the caller's to execute; `nil` when no
    ///   checkpoint claimed (the store cannot, or the run's lease was lost, or the store failed).
    @discardableResult
    func execute(_ claimed: ClaimedRun, claimNext: NextRunClaim? = nil) async -> [ClaimedRun]? {
        let metrics = client.metrics.function(claimed.run.functionID, app: claimed.run.appID)
        let reason = ClaimReason(claimed)
        if reason == .new { metrics.runsStarted.increment() }
        if let dueAt = claimed.dueAt {
            metrics.claimDelays[reason]?.recordMilliseconds(max(0, claimed.claimedAt - dueAt))
        }
        metrics.executionsActive.increment()
        defer { metrics.executionsActive.decrement() }
        let tracer = client.tracer
        let parent = claimed.event.traceContext?.extracted(by: tracer) ?? client.currentTraceParent
        return await client.withSpan("run \(claimed.run.functionID)", context: parent, ofKind: .consumer) { span in
            if span.isRecording {
                // In one update: a span guards its attributes with a lock, taken per write.
                // Room made for all six at once, each set as a `SpanAttribute`, as a step's are.
                span.updateAttributes { attributes in
                    attributes.reserveCapacity(attributes.count + 6)
                    attributes.set("stepwise.run.id", value: .string(claimed.run.id.description))
                    attributes.set("stepwise.run.attempt", value: .int64(Int64(claimed.run.attempt)))
                    attributes.set("stepwise.function.id", value: .string(claimed.run.functionID))
                    attributes.set("stepwise.app.id", value: .string(claimed.run.appID))
                    attributes.set("stepwise.environment", value: .string(claimed.run.environment))
                    attributes.set("stepwise.claim.reason", value: .string(reason.rawValue))
                }
                for event in claimed.events.dropFirst() {
                    if let context = event.traceContext { span.addLink(SpanLink(context: context.extracted(by: tracer), attributes: [:])) }
                }
            }
            let step = await executeInSpan(claimed, metrics: metrics, claimNext: claimNext)
            return step?.claimedNext
        }
    }

    /// - Returns: the run's `Step`, once the run was replayed: what it claimed is there.
    private func executeInSpan(
        _ claimed: ClaimedRun, metrics: FunctionMetrics, claimNext: NextRunClaim?
    ) async -> Step? {
        var logger = logger
        logger[metadataKey: "stepwise.run"] = "\(claimed.run.id)"
        logger[metadataKey: "stepwise.function"] = "\(claimed.run.functionID)"
        guard let function = client.registry.function(id: claimed.run.functionID) else {
            // Claims ask only for this client's functions; this would be a bug, not input.
            logger.error("claimed a run of a function this client does not hold; leaving it to its lease")
            return nil
        }
        let step = Step(client: client, function: function, claimed: claimed, logger: logger, claimNext: claimNext)
        if let exceeded = exceededTimeout(claimed.run, function: function) {
            // Fenced like any checkpoint: a worker that lost the run cancels nothing.
            let now = client.configuration.clock.now()
            let cancelled = SystemEvent.cancelled(run: claimed.run, triggeringEvent: claimed.event, reason: exceeded, at: now)
            do {
                try await step.commit(
                    step: nil, events: client.systemEventBatch([cancelled], at: now),
                    transition: .cancel(error: .runCancelled(reason: exceeded)))
                logger.notice("run cancelled", metadata: ["reason": "\(exceeded)"])
            } catch {
                // Step.commit logged a lost lease or a failing store.
            }
            return step
        }
        logger.debug("run started", metadata: ["attempt": "\(claimed.run.attempt)"])
        let result: Result<JSON, any Error>
        do {
            // The function's own code reads the run's logger as `Logger.current`, with the app,
            // function and run in its metadata.
            // The function sees the `user` that was sent; the engine keeps the sealed copy for
            // the system events it writes. A key that is missing fails the attempt, naming it.
            let event = try client.configuration.userEncryption.open(claimed.event)
            result = .success(try await withLogger(logger) { _ in try await function.handler(event, step) })
        } catch {
            result = .failure(error)
        }

        if let interruption = step.interruption {
            // A step already committed what becomes of the run (a retry), or nothing may be
            // committed (lease lost, store failing), or the worker is stopping.
            if interruption == .cancelled {
                await release(step, logger: logger)
            }
            return step
        }
        switch result {
        case .success(let output):
            let now = client.configuration.clock.now()
            if await finish(step, transition: .complete(output: output),
                            event: SystemEvent.finished(run: claimed.run, triggeringEvent: claimed.event, output: output, at: now), at: now) {
                metrics.durationCompleted.recordMilliseconds(max(0, now - claimed.run.createdAt))
            }
            logger.debug("run completed")
        case .failure(let error):
            if Task.isCancelled {
                await release(step, logger: logger)
                return step
            }
            await handleFunctionError(error, step: step, claimed: claimed, function: function, metrics: metrics, logger: logger)
        }
        return step
    }

    /// Which of the function's timeouts the run is past, if any: it waited longer than
    /// `start` for its first claim, or has been going longer than `finish`.
    private func exceededTimeout(_ run: RunRecord, function: StepwiseFunction) -> String? {
        let now = client.configuration.clock.now()
        let startedAt = run.startedAt ?? now
        if let start = function.timeouts.start, startedAt - run.createdAt > start.milliseconds {
            return "timeouts.start"
        }
        if let finish = function.timeouts.finish, now - startedAt >= finish.milliseconds {
            return "timeouts.finish"
        }
        return nil
    }

    /// An error thrown outside any step (or a step's final `StepError` the function let through).
    private func handleFunctionError(
        _ error: any Error, step: Step, claimed: ClaimedRun, function: StepwiseFunction, metrics: FunctionMetrics, logger: Logger
    ) async {
        let record = ErrorRecord(error)
        let attempt = claimed.run.attempt + 1
        let now = client.configuration.clock.now()
        switch function.retries.decision(after: error, failures: attempt) {
        case .fail:
            if await finish(step, transition: .fail(error: record, attempt: attempt),
                            event: SystemEvent.failed(run: claimed.run, triggeringEvent: claimed.event, error: record, at: now), at: now) {
                metrics.durationFailed.recordMilliseconds(max(0, now - claimed.run.createdAt))
            }
            logger.warning("run failed", metadata: ["error": "\(record)", "attempts": "\(attempt)"])
        case .retry(let delay):
            do {
                try await step.commit(step: nil, events: nil, transition: .retry(at: now + delay, attempt: attempt, error: record))
                logger.notice("run failed, will retry", metadata: ["error": "\(record)", "attempt": "\(attempt)", "delay_ms": "\(delay)"])
            } catch {
                // The step logged why; the lease will bring the run back.
            }
        }
    }

    /// Ends the run, emitting its system event in the same transaction, so both happen once.
    ///
    /// - Returns: whether the end was committed.
    @discardableResult
    private func finish(_ step: Step, transition: RunCheckpoint.Transition, event: NewEvent, at now: Int64) async -> Bool {
        do {
            try await step.commit(step: nil, events: client.systemEventBatch([event], at: now), transition: transition)
            return true
        } catch {
            // Step.commit logged a lost lease or a failing store.
            return false
        }
    }

    /// Gives the run back, unfinished, for another claim at once.
    private func release(_ step: Step, logger: Logger) async {
        do {
            try await step.commit(step: nil, events: nil, transition: .release)
            logger.info("run released at shutdown")
        } catch {}
    }
}

