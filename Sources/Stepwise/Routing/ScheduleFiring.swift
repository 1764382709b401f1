/// A function's cron schedule as a store keeps it: the expression, read only by the engine,
/// and the time of its next tick.
public struct ScheduleRecord: Sendable, Hashable {
    public let appID: String
    public let functionID: String
    public let expression: String
    public let timeZone: String
    /// The next tick, in milliseconds since the epoch; `Int64.max` when none is left.
    public let nextAt: Int64

    public init(appID: String, functionID: String, expression: String, timeZone: String, nextAt: Int64) {
        self.appID = appID
        self.functionID = functionID
        self.expression = expression
        self.timeZone = timeZone
        self.nextAt = nextAt
    }
}

/// One due tick of a schedule, decided by the engine, for a store to fire in one
/// transaction: move the schedule from `schedule.nextAt` to `nextAt` if it is still at
/// `schedule.nextAt` (whoever moved it first fired it), and then append `event` and start
/// `run` with it.
public struct ScheduleFiring: Sendable {
    /// The schedule, at the tick being fired.
    public let schedule: ScheduleRecord
    /// The tick after this one, after the time of firing: the ticks missed while no worker
    /// ran collapse into this one run.
    public let nextAt: Int64
    /// The tick's `stepwise/scheduled.timer`.
    public let event: NewEvent
    /// The function's run, started by `event`.
    public let run: NewRun

    public init(schedule: ScheduleRecord, nextAt: Int64, event: NewEvent, run: NewRun) {
        self.schedule = schedule
        self.nextAt = nextAt
        self.event = event
        self.run = run
    }
}
