/// Runs once events stop coming: each event with a key pushes the run on to `period` after it,
/// and the run starts with the latest event (by `ts`), once `period` has passed with no newer
/// one, or `timeout` after the first, whichever comes first.
///
/// The pending run is an ordinary queued run, so it survives a restart and fires on time, and
/// each event it took the place of says so in its admission record.
///
/// ```swift
/// // Reindex a document 10 s after its last edit, and at least every 2 minutes while edits go on.
/// FunctionOptions(debounce: .init(period: .seconds(10), key: "event.data.documentId", timeout: .seconds(120)))
/// ```
public struct Debounce: Sendable, Hashable {
    /// How long after the latest event the run starts; 1 second to 7 days.
    public var period: Duration
    /// What events are debounced by; `nil` debounces the function as a whole.
    public var key: EventExpression?
    /// The longest the run waits after the first event; `nil` waits as long as events come.
    public var timeout: Duration?

    public init(period: Duration, key: EventExpression? = nil, timeout: Duration? = nil) {
        self.period = period
        self.key = key
        self.timeout = timeout
    }
}

/// Runs once for several events: the handler gets them all (`step.events`, in the order they
/// were accepted; `event` is the first), when `maxSize` have come or `timeout` after the
/// first, whichever comes first.
///
/// ```swift
/// // Write analytics rows 100 at a time, or every 5 seconds.
/// FunctionOptions(batchEvents: .init(maxSize: 100, timeout: .seconds(5)))
/// ```
public struct BatchEvents: Sendable, Hashable {
    /// Events per batch; 2 to 1000.
    public var maxSize: Int
    /// The longest a batch stays open after its first event; 1 second to 1 hour.
    public var timeout: Duration
    /// What events are batched by: one open batch per value; `nil` for one batch.
    public var key: EventExpression?
    /// Which events are batched: one for which it does not hold runs alone, at once.
    public var condition: EventExpression?

    public init(maxSize: Int, timeout: Duration, key: EventExpression? = nil, if condition: EventExpression? = nil) {
        self.maxSize = maxSize
        self.timeout = timeout
        self.key = key
        self.condition = condition
    }
}

/// At most one run per key that has not ended: a new event while one is active is skipped (and
/// its admission record says which run it met), or cancels the active run and starts anew.
///
/// ```swift
/// // One import per account at a time; a second request while one runs is dropped.
/// FunctionOptions(singleton: .init(key: "event.data.accountId", mode: .skip))
/// ```
public struct Singleton: Sendable, Hashable {
    /// What a new event does while a run with its key is active.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// The event starts no run.
        case skip
        /// The active run is cancelled (a step in flight cannot commit) and the event starts one.
        case cancel
    }

    /// What runs are singled by; `nil` for the function as a whole. A key that gives `false`
    /// is not a singleton.
    public var key: EventExpression?
    public var mode: Mode

    public init(key: EventExpression? = nil, mode: Mode) {
        self.key = key
        self.mode = mode
    }
}
