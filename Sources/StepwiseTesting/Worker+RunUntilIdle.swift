public import Stepwise

extension Worker {
    /// Runs every run to the end, moving `clock` on to each retry's time instead of waiting
    /// for it: what a test needs to see a function's whole life in microseconds.
    ///
    /// `clock` must be the worker's client's clock (`configuration: .init(clock: clock)`):
    /// moving any other clock on would make no run due.
    ///
    /// - Parameter maximumRounds: a bound on how often the clock is moved on, so that a
    ///   function that never stops retrying fails the test instead of hanging it.
    /// - Throws: ``RunUntilIdleError`` when runs are still due after `maximumRounds`, or at
    ///   once when `clock` is not the client's.
    public func runUntilIdle(advancing clock: ManualClock, maximumRounds: Int = 1000) async throws {
        guard let clientClock = client.configuration.clock as? ManualClock, clientClock === clock else {
            throw RunUntilIdleError(rounds: 0, clientClockIsAnother: true)
        }
        for _ in 0..<maximumRounds {
            guard let next = try await executeDueRuns() else { return }
            clock.advance(to: next)
        }
        throw RunUntilIdleError(rounds: maximumRounds, clientClockIsAnother: false)
    }
}

/// Runs were still due after the rounds `runUntilIdle` was allowed, or the clock it was to
/// move on is not the one the client reads.
public struct RunUntilIdleError: Error, CustomStringConvertible {
    /// The rounds of moving the clock on that were made.
    public let rounds: Int
    /// Whether the worker's client reads another clock than the one given, so that moving it
    /// on could never make a run due.
    public let clientClockIsAnother: Bool

    public var description: String {
        if clientClockIsAnother {
            return "runUntilIdle(advancing:) was given a clock the worker's client does not read: create the client with "
                + "configuration: .init(clock: clock), the same ManualClock"
        }
        return "runs were still due after \(rounds) rounds of moving the clock on: a function that retries for ever, "
            + "or sleeps in a loop?"
    }
}

extension Worker {
    /// Executes every run that is due now, and the runs those make due now, until none is
    /// left: for tests that drive the engine step by step with their own clock (send the event
    /// a wait waits for between two calls), instead of running the worker as a service.
    ///
    /// - Returns: when the next run falls due, in milliseconds since the epoch; `nil` when
    ///   none will.
    @discardableResult
    public func drain() async throws -> Int64? {
        try await executeDueRuns()
    }
}
