/// How fast runs may start: at most `limit` starts per `period`, spread evenly, with up to
/// `burst` more at once after a quiet time. The excess is queued, never dropped; each queued
/// run is given its start time when its event is accepted, so it starts on time.
///
/// Only starts are throttled: once a run has started, its steps run as fast as they can.
///
/// ```swift
/// // One sync per user every 10 seconds, whatever the users send.
/// FunctionOptions(throttle: .init(limit: 1, period: .seconds(10), key: "event.data.userId"))
/// ```
public struct Throttle: Sendable, Hashable {
    /// Starts per period; at least 1.
    public var limit: Int
    /// The period, from 1 second to 7 days.
    public var period: Duration
    /// Starts allowed at once beyond `limit` after a quiet time; 0 by default.
    public var burst: Int
    /// What starts are counted by; `nil` throttles the function as a whole.
    public var key: EventExpression?

    public init(limit: Int, period: Duration, burst: Int = 0, key: EventExpression? = nil) {
        self.limit = limit
        self.period = period
        self.burst = burst
        self.key = key
    }
}

/// How many events may start a run in a period: an event beyond the limit creates no run,
/// and the event's admission record says so.
///
/// The window is exact and sliding: an event is admitted if fewer than `limit` events with
/// its key were admitted in the `period` before it. (Inngest's rate limit is a token bucket
/// that admits `limit / 10 + 1` at once; Stepwise admits the `limit` it is given.)
///
/// ```swift
/// // One run per company per minute; the rest are recorded as rate limited.
/// FunctionOptions(rateLimit: .init(limit: 1, period: .seconds(60), key: "event.data.companyId"))
/// ```
public struct RateLimit: Sendable, Hashable {
    /// Events admitted per period; at least 1.
    public var limit: Int
    /// The period, from 1 second to 24 hours.
    public var period: Duration
    /// What events are counted by; `nil` limits the function as a whole. A key that
    /// evaluates to `false` is not limited.
    public var key: EventExpression?

    public init(limit: Int, period: Duration, key: EventExpression? = nil) {
        self.limit = limit
        self.period = period
        self.key = key
    }
}

/// Which queued runs start first: `run` gives a number of seconds (clamped to ±600) by which
/// a run goes ahead of (or, negative, behind) the runs queued before (or after) it.
///
/// Priority orders the runs of one function that wait for a concurrency slot; it never
/// stops a run that has started, and never reorders another function's runs.
///
/// ```swift
/// FunctionOptions(concurrency: [.init(limit: 5)],
///                 priority: .init(run: "event.data.plan == 'enterprise' ? 120 : 0"))
/// ```
public struct Priority: Sendable, Hashable {
    /// The most seconds a priority moves a run, either way.
    public static let maximumSeconds: Int64 = 600
    /// Seconds ahead (positive) or behind (negative); an expression that gives something
    /// other than an integer counts as 0, and the run's flow notes say why.
    public var run: EventExpression

    public init(run: EventExpression) {
        self.run = run
    }
}
