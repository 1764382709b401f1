#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Stepwise
import Synchronization

/// A wall clock that moves only when a test moves it, so that retries, backoff and dedupe
/// windows are tested in microseconds and deterministically.
///
/// ```swift
/// let clock = ManualClock()
/// let stepwise = StepwiseClient(id: "test", store: try .inMemory(), configuration: .init(clock: clock))
/// clock.advance(by: .seconds(24 * 3600))
/// ```
public final class ManualClock: WallClock {
    private let current: Mutex<Int64>

    /// A clock reading `start` milliseconds since the Unix epoch (2027-01-15 by default).
    public init(_ start: Int64 = 1_800_000_000_000) {
        current = Mutex(start)
    }

    public func now() -> Int64 { current.withLock { $0 } }

    /// Moves the clock on by `duration`.
    public func advance(by duration: Duration) {
        let components = duration.components
        let milliseconds = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        current.withLock { $0 += milliseconds }
    }

    /// Moves the clock to `milliseconds`, if that is later than now.
    public func advance(to milliseconds: Int64) {
        current.withLock { $0 = max($0, milliseconds) }
    }

    /// What the clock reads, as a `Date`: to compare with records' dates, or to give
    /// `step.sleepUntil` a time relative to the test's now.
    public var date: Date { Date(milliseconds: now()) }

    /// Moves the clock to `date` (to the millisecond), if that is later than now.
    public func advance(to date: Date) {
        advance(to: date.millisecondsSinceEpoch)
    }
}
