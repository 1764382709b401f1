#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where Stepwise reads the time of day: receive times, default `ts`, dedupe windows.
///
/// Injected so that tests can move time on (past a dedupe window, say) without waiting.
public protocol WallClock: Sendable {
    /// Now, in milliseconds since the Unix epoch.
    func now() -> Int64
}

/// The system's clock.
public struct SystemWallClock: WallClock {
    public init() {}

    public func now() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}

extension WallClock where Self == SystemWallClock {
    public static var system: SystemWallClock { SystemWallClock() }
}
