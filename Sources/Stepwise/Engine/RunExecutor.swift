import Logging

/// Replays one claimed run: calls the function's closure with the run's event and steps, and
/// commits how the run ends (completed, retried, failed, or released on shutdown).
struct RunExecutor: Sendable {
    let client: StepwiseClient
    let logger: Logger

    func execute(_ claimed: ClaimedRun) async {
        var logger = logger
        logger[metadataKey: "stepwise.run"] = "\(claimed.run.id)"
        logger[metadataKey: "stepwise.function"] = "\(claimed.run.functionID)"
        guard let function = client.registry.function(id: claimed.run.functionID) else {
            // Claims ask only for this client's functions; this would be a bug, not input.
            logger.error("claimed a run of a function this client does not hold; leaving it to its lease")
            return
        }
        let step = Step(client: client, function: function, claimed: claimed, logger: logger)
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
            return
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
            return
        }
        switch result {
        case .success(let output):
            let now = client.configuration.clock.now()
            await finish(step, transition: .complete(output: output),
                         event: SystemEvent.finished(run: claimed.run, triggeringEvent: claimed.event, output: output, at: now), at: now)
            logger.debug("run completed")
        case .failure(let error):
            if Task.isCancelled {
                await release(step, logger: logger)
                return
            }
            await handleFunctionError(error, step: step, claimed: claimed, function: function, logger: logger)
        }
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
    private func handleFunctionError(_ error: any Error, step: Step, claimed: ClaimedRun, function: StepwiseFunction, logger: Logger) async {
        let record = ErrorRecord(error)
        let attempt = claimed.run.attempt + 1
        let now = client.configuration.clock.now()
        switch function.retries.decision(after: error, failures: attempt) {
        case .fail:
            await finish(step, transition: .fail(error: record, attempt: attempt),
                         event: SystemEvent.failed(run: claimed.run, triggeringEvent: claimed.event, error: record, at: now), at: now)
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
    private func finish(_ step: Step, transition: RunCheckpoint.Transition, event: NewEvent, at now: Int64) async {
        do {
            try await step.commit(step: nil, events: client.systemEventBatch([event], at: now), transition: transition)
        } catch {
            // Step.commit logged a lost lease or a failing store.
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

