/// The sizes `send` accepts. The defaults are Inngest's: 512 KiB a request, 256 KiB an
/// event, 5000 events a batch.
///
/// Sizes are measured on the event as JSON text (compact, as the Event API receives it), so
/// that an event accepted in process would be accepted over HTTP too, and the other way round.
public struct EventLimits: Sendable, Hashable {
    /// The largest one event may be, in bytes of JSON.
    public var maxEventBytes: Int
    /// The largest a batch may be, in bytes of JSON (the events as one JSON array).
    public var maxBatchBytes: Int
    /// The most events one batch may hold.
    public var maxBatchCount: Int

    public init(maxEventBytes: Int = 256 * 1024, maxBatchBytes: Int = 512 * 1024, maxBatchCount: Int = 5000) {
        self.maxEventBytes = maxEventBytes
        self.maxBatchBytes = maxBatchBytes
        self.maxBatchCount = maxBatchCount
    }

    public static let `default` = EventLimits()
}
