/// When a throttled run may start: the generic cell rate algorithm (GCRA), which Inngest's
/// throttle uses too, with a start reserved for each run as its event is accepted.
///
/// A key's state is one number, its theoretical arrival time (TAT): when the next start would
/// be if starts came exactly one `period / limit` apart. A start is allowed as early as `TAT`
/// minus the tolerance, `(limit + burst − 1)` intervals, so `limit + burst` runs start at once
/// after a quiet time and then one each interval. Times are kept in microseconds, so that a
/// period that does not divide by the limit (1 s / 3) does not drift.
@_spi(StoreImplementation)
public enum ThrottleSchedule {
    /// `run` due at the start reserved for it, and the key's state after it (`nil`: leave the
    /// state as it was). A run whose start would come after its start timeout reserves
    /// nothing, so it takes no other run's slot, and is due when the timeout has passed, to be
    /// cancelled then.
    public static func place(_ run: NewRun, tat: Int64?) -> (run: NewRun, tat: Int64?) {
        guard let throttle = run.flow.throttle else { return (run, nil) }
        let reserved = reserve(tat: tat, due: run.availableAt, throttle: throttle)
        if let timeout = throttle.startTimeoutMilliseconds, reserved.start - run.createdAt > timeout {
            return (run.starting(at: run.createdAt + timeout + 1), nil)
        }
        return (run.starting(at: reserved.start), reserved.tat)
    }

    /// The start reserved for a run due at `due`, and the key's state after it.
    ///
    /// - Parameter tat: the key's state, in microseconds since the epoch, or `nil` for a key
    ///   that has never started a run.
    public static func reserve(tat: Int64?, due: Int64, throttle: RunFlow.Throttled) -> (start: Int64, tat: Int64) {
        let limit = Int64(max(1, throttle.limit))
        let interval = max(1, throttle.periodMilliseconds * 1000 / limit)
        let tolerance = (limit + Int64(max(0, throttle.burst)) - 1) * interval
        let dueMicroseconds = due * 1000
        let arrival = tat ?? dueMicroseconds
        let start = max(dueMicroseconds, arrival - tolerance)
        let next = max(arrival, start) + interval
        // Rounded up to the millisecond, so a run is never due before its start.
        return ((start + 999) / 1000, next)
    }
}
