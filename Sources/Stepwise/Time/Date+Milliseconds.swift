#if canImport(FoundationEssentials)
package import FoundationEssentials
#else
package import Foundation
#endif

/// The bridge between the `Date`s of the Swift API and the milliseconds since the epoch that
/// the store and the wire keep (so that records and the Inngest wire format stay as they are).
extension Date {
    /// The date `milliseconds` after the Unix epoch.
    package init(milliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// Whole milliseconds since the Unix epoch, rounded down (so that a time is never moved
    /// later than it was given), clamped to what an `Int64` holds rather than trapping on a
    /// date far out of range such as `.distantFuture` times a thousand years.
    package var millisecondsSinceEpoch: Int64 {
        let value = (timeIntervalSince1970 * 1000).rounded(.down)
        guard value.isFinite else { return value < 0 ? .min : .max }
        if value >= 9.2e18 { return .max }
        if value <= -9.2e18 { return .min }
        return Int64(value)
    }
}
