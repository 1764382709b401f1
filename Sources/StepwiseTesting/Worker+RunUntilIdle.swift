public import Stepwise

extension Worker {
    /// Runs every run to the end, moving `clock` on to each retry's time instead of waiting
    /// for it: what a test needs to see a function's whole life in microseconds.
    ///
    /// - Parameter maximumRounds: a bound on how often the clock is moved on, so that a
    ///   function that never stops retrying fails the test instead of hanging it.
    /// - Throws: ``RunUntilIdleError`` when runs are still due after `maximumRounds`.
    public func runUntilIdle(advancing clock: ManualClock, maximumRounds: Int = 1000) async throws {
        for _ in 0..<maximumRounds {
            guard let next = try await drain() else { return }
            clock.advance(to: next)
        }
        throw RunUntilIdleError(rounds: maximumRounds)
    }
}

/// Runs were still due after the rounds `runUntilIdle` was allowed.
public struct RunUntilIdleError: Error, CustomStringConvertible {
    public let rounds: Int
    public var description: String { "runs were still due after \(rounds) rounds of moving the clock on" }
}
