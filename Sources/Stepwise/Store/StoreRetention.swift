/// A store that deletes what is past its retention, a batch at a time (issue 14): ended runs
/// with their steps, events no run needs any more, and dedupe keys whose window has passed.
///
/// A capability of its own beside ``Store``, as ``StoreChangeFeed`` is: a store that cannot
/// prune (a wrapper in a test) simply does not conform. The engine decides what may go
/// (``Retention``: the cutoff, never inside the dedupe window); a store deletes in short
/// transactions, so that a writer waits for at most one batch.
public protocol StoreRetention: Store {
    /// Deletes, in one transaction, up to `request.limit` rows of each kind in
    /// `request.environment`, in this order:
    ///
    /// 1. runs that ended (completed, failed, cancelled) before `request.before`, with their
    ///    steps, step attempts, waits and event lists; a run that has not ended is never
    ///    deleted, however old;
    /// 2. events received before `request.before` that no run (of any status) names, neither
    ///    as its event nor in its event list;
    /// 3. dedupe keys accepted before `request.dedupeBefore`;
    /// 4. throttle states (of any environment) whose next start fell before `request.before`:
    ///    a key in that state starts its next run as soon as it is due, exactly as a key never
    ///    seen, so the row tells nothing and only takes room.
    ///
    /// - Returns: how many of each were deleted; fewer than `limit` of every kind means
    ///   nothing more is due at this cutoff.
    ///
    /// Concurrent callers: appends, claims, checkpoints, cancels and reruns run as before,
    /// waiting for at most one batch. An event that a run inserted in a racing transaction
    /// names is not deleted (the run's transaction commits first, or sees the event gone and
    /// fails as for any missing event: a rerun of a run that a prune deleted answers `nil`).
    /// Two prunes racing delete each row once between them.
    func prune(_ request: PruneRequest) async throws -> PruneResult

    /// How much `environment` holds, and the database's size on disk where the store knows it.
    func sizes(environment: String) async throws -> StoreSizes
}

/// One batch of a prune: what is past retention in one environment.
public struct PruneRequest: Sendable, Hashable {
    public let environment: String
    /// Runs that ended before this time, and events received before it, may go; in
    /// milliseconds since the epoch.
    public let before: Int64
    /// Dedupe keys accepted before this time may go (the dedupe window has passed for them).
    public let dedupeBefore: Int64
    /// The most rows of each kind one transaction deletes.
    public let limit: Int

    /// `before` in microseconds, the unit of throttle states (``ThrottleSchedule``), held at
    /// the largest time for a cutoff as late as any.
    public var beforeMicroseconds: Int64 {
        let (product, overflow) = before.multipliedReportingOverflow(by: 1000)
        return overflow ? (before < 0 ? Int64.min : Int64.max) : product
    }

    public init(environment: String, before: Int64, dedupeBefore: Int64, limit: Int) {
        self.environment = environment
        self.before = before
        self.dedupeBefore = dedupeBefore
        self.limit = limit
    }
}

/// What one prune batch deleted.
public struct PruneResult: Sendable, Hashable {
    public var runs: Int
    /// Steps of the deleted runs (their attempts, waits and event lists go too, uncounted).
    public var steps: Int
    public var events: Int
    public var dedupeKeys: Int
    /// Throttle keys whose state had run out.
    public var throttleKeys: Int

    public init(runs: Int = 0, steps: Int = 0, events: Int = 0, dedupeKeys: Int = 0, throttleKeys: Int = 0) {
        self.runs = runs
        self.steps = steps
        self.events = events
        self.dedupeKeys = dedupeKeys
        self.throttleKeys = throttleKeys
    }

    /// Whether a batch with this limit may have left rows behind.
    public func reachedLimit(_ limit: Int) -> Bool {
        runs >= limit || events >= limit || dedupeKeys >= limit || throttleKeys >= limit
    }

    static func + (lhs: PruneResult, rhs: PruneResult) -> PruneResult {
        PruneResult(
            runs: lhs.runs + rhs.runs, steps: lhs.steps + rhs.steps, events: lhs.events + rhs.events,
            dedupeKeys: lhs.dedupeKeys + rhs.dedupeKeys, throttleKeys: lhs.throttleKeys + rhs.throttleKeys)
    }
}

/// How much an environment holds: what `stepwise prune` reports before and after.
public struct StoreSizes: Sendable, Hashable, CustomStringConvertible {
    public var events: Int
    public var runs: Int
    public var steps: Int
    public var dedupeKeys: Int
    /// The database's size in bytes (every environment), when the store knows it.
    public var bytes: Int64?

    public init(events: Int, runs: Int, steps: Int, dedupeKeys: Int, bytes: Int64?) {
        self.events = events
        self.runs = runs
        self.steps = steps
        self.dedupeKeys = dedupeKeys
        self.bytes = bytes
    }

    public var description: String {
        "\(events) events, \(runs) runs, \(steps) steps, \(dedupeKeys) dedupe keys" + (bytes.map { ", database \($0) bytes" } ?? "")
    }
}
