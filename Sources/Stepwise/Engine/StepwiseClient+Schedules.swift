/// Cron ticks, decided here: which tick is due, the one after it, the tick's event and its
/// run. The store keeps times and fires what it is given (``Store/fire(_:environment:afterCommit:)``).
extension StepwiseClient {
    /// Starts the runs of this client's schedules whose tick has come.
    ///
    /// - Returns: how many ticks were fired here (another worker may have fired some first).
    @discardableResult
    func fireDueSchedules() async throws -> Int {
        let now = configuration.clock.now()
        let due = try await store.dueSchedules(environment: configuration.environment, appID: id, functionIDs: registry.ids, now: now)
        guard !due.isEmpty else { return 0 }
        var firings: [ScheduleFiring] = []
        for schedule in due {
            guard let function = registry.function(id: schedule.functionID) else { continue }
            // A schedule the registration wrote always parses; one that no longer does (edited
            // by hand) is parked at the end of time rather than firing every poll.
            let next = (try? CronSchedule(schedule.expression, timeZone: schedule.timeZone))?.next(after: now) ?? Int64.max
            let event = SystemEvent.scheduledTimer(
                appID: id, functionID: schedule.functionID, expression: schedule.expression, timeZone: schedule.timeZone,
                scheduledAt: schedule.nextAt, at: now)
            let run = NewRun.triggered(
                id: RunID(ULIDGenerator.shared.next(milliseconds: now)), appID: id, functionID: schedule.functionID,
                settings: function.settings, by: event, environment: configuration.environment, receivedAt: now)
            firings.append(ScheduleFiring(schedule: schedule, nextAt: next, event: event, run: run))
        }
        let bus = self.bus
        return try await store.fire(firings, environment: configuration.environment, afterCommit: { bus.publish($0) })
    }
}
