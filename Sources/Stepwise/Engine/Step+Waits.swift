extension Step {
    // MARK: - step.sleep

    /// Sleeps for `duration`, durably: the run is checkpointed and set aside, holding no task
    /// and no memory beyond its rows, and resumes by replay when the time comes — in whichever
    /// worker is up then, after any number of restarts.
    ///
    /// The wake-up time is fixed the first time the run reaches the sleep, so a replay sleeps
    /// until the same moment.
    public func sleep(_ id: String, for duration: Duration) async throws {
        try await sleep(id, until: { $0 + duration.milliseconds })
    }

    /// Sleeps until `milliseconds` since the Unix epoch, durably. See ``sleep(_:for:)``.
    public func sleepUntil(_ id: String, _ milliseconds: Int64) async throws {
        try await sleep(id, until: { _ in milliseconds })
    }

    private func sleep(_ id: String, until wakeTime: (Int64) -> Int64) async throws {
        try checkNotInterrupted()
        let key = nextKey(for: id)
        let now = client.configuration.clock.now()
        let until: Int64
        switch memo(key) {
        case let record? where record.status == .completed:
            return
        case let record?:
            until = record.output?["until"]?.intValue ?? now
        case nil:
            until = wakeTime(now)
        }
        if now >= until {
            // Awake: recorded as done, so later replays pass straight through.
            let record = StepRecord(
                runID: run.id, key: key, stepID: id, kind: .sleep, status: .completed, output: ["until": .int(until)],
                error: nil, failedAttempts: 0, startedAt: memo(key)?.startedAt ?? now, endedAt: now)
            try await commit(step: record, events: nil, transition: .none)
            remember(record)
            return
        }
        let record = StepRecord(
            runID: run.id, key: key, stepID: id, kind: .sleep, status: .waiting, output: ["until": .int(until)],
            error: nil, failedAttempts: 0, startedAt: memo(key)?.startedAt ?? now, endedAt: now)
        try await commit(step: record, events: nil, transition: .sleep(until: until))
        interrupt(.suspended)
        stepLogger(key).debug("run sleeping", metadata: ["until": "\(until)"])
        throw RunInterruption.suspended
    }

    // MARK: - step.waitForEvent

    /// Waits for the next event named `event` that arrives after the wait begins, durably:
    /// returns it, or `nil` once `timeout` passes. The run is set aside meanwhile, as with
    /// ``sleep(_:for:)``.
    ///
    /// - Parameters:
    ///   - match: a dotted path such as `"data.userId"`: only an event whose value there equals
    ///     the triggering event's value at the same path matches. Matching an incoming event
    ///     against waiting runs is an index look-up, however many runs wait.
    /// - Returns: the matching event, or `nil` when the wait timed out.
    public func waitForEvent(_ id: String, event name: String, timeout: Duration, match: String? = nil) async throws -> StoredEvent? {
        try checkNotInterrupted()
        let key = nextKey(for: id)
        let now = client.configuration.clock.now()
        var startedAt = now
        let until: Int64
        switch memo(key) {
        case let record? where record.status == .completed:
            return record.output.flatMap(StoredEvent.decodedFromStep)
        case let record?:
            until = record.output?["until"]?.intValue ?? now
            startedAt = record.startedAt
        case nil:
            until = now + timeout.milliseconds
        }
        if now >= until {
            // Timed out: the store resolves a match only while the run is `waiting`, and this
            // run is running now, so no event can complete the step behind this commit.
            let record = StepRecord(
                runID: run.id, key: key, stepID: id, kind: .waitForEvent, status: .completed, output: .null, error: nil,
                failedAttempts: 0, startedAt: startedAt, endedAt: now)
            try await commit(step: record, events: nil, transition: .none)
            remember(record)
            return nil
        }
        let matchValue = match.map { path in
            let envelope: JSON = ["name": .string(triggeringEvent.name), "data": triggeringEvent.data, "user": triggeringEvent.user ?? .null]
            return envelope.value(atPath: path) ?? .null
        }
        let record = StepRecord(
            runID: run.id, key: key, stepID: id, kind: .waitForEvent, status: .waiting, output: ["until": .int(until)],
            error: nil, failedAttempts: 0, startedAt: startedAt, endedAt: now)
        let wait = RunWait(stepKey: key, eventName: name, matchPath: match, matchValue: matchValue, expiresAt: until)
        try await commit(step: record, events: nil, transition: .wait(wait))
        interrupt(.suspended)
        stepLogger(key).debug("run waiting for an event", metadata: ["event": "\(name)", "until": "\(until)"])
        throw RunInterruption.suspended
    }
}
