/// A store that can tell its readers that something changed, when another process changed
/// it: PostgreSQL's `LISTEN`/`NOTIFY`, SQLite's `PRAGMA data_version`.
///
/// An optional capability. Without it, a worker finds the runs that another process made due
/// (an event sent by the HTTP server or the CLI) only when it polls the store, every
/// ``Worker/Configuration/pollInterval`` or at the next run's due time (``Store/nextDueTime(environment:appID:functionIDs:)``);
/// with it, the worker's doorbell rings on each change, at once. Polling stays the fallback,
/// so a feed may drop, merge or delay changes; it must never claim that nothing changed.
///
/// Changes made through this process are already announced by the in-process ``EventBus``; a
/// feed may report them again (SQLite's does not know whose commit it saw), which costs one
/// extra look at the store.
public protocol StoreChangeFeed: Store {
    /// The changes from now on, until the consumer stops iterating (or its task is cancelled),
    /// which must end whatever the feed holds (a connection, a polling task).
    ///
    /// The first change may come at once, when the feed starts watching: whatever happened
    /// before it did is covered by that one, so a consumer that looks at the store on each
    /// change misses nothing between subscribing and the feed's first look.
    func changes() -> AsyncStream<StoreChange>
}

/// What changed in a store, as much as the store can tell.
///
/// A struct with static members, so that kinds can be added (a run cancelled, a function
/// registered) without breaking the feeds and consumers of today.
public struct StoreChange: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case runsMayBeDue
        case eventsAppended
        case unknown
    }

    let kind: Kind
    /// The environment it happened in; `nil` when the store cannot tell (or it was in several).
    public let environment: String?
    /// The claimer (a ``ClaimRequest/owner``) that claimed, in the commits behind this change,
    /// every run they made due for it, and that has nothing to look for: the worker whose
    /// slot's checkpoint or whose client's send claimed (``StoreClaimingWrites``). Everyone
    /// else should look. `nil` when no claim covered it.
    public let coveredBy: String?

    init(kind: Kind, environment: String?, coveredBy: String? = nil) {
        self.kind = kind
        self.environment = environment
        self.coveredBy = coveredBy
    }

    /// Runs were queued or rescheduled, or leases given up: a worker should claim, unless it is
    /// the one named by `coveredBy`.
    public static func runsMayBeDue(environment: String? = nil, coveredBy: String? = nil) -> StoreChange {
        StoreChange(kind: .runsMayBeDue, environment: environment, coveredBy: coveredBy)
    }

    /// Events were appended, and with them the runs they trigger.
    public static func eventsAppended(environment: String? = nil) -> StoreChange {
        StoreChange(kind: .eventsAppended, environment: environment)
    }

    /// Something was committed, the store cannot say what (SQLite's `data_version`): anything
    /// above may have happened.
    public static let unknown = StoreChange(kind: .unknown, environment: nil)

    /// Whether this change may concern `environment`: it happened there, or nobody knows where.
    public func mayConcern(environment other: String) -> Bool {
        environment.map { EnvironmentName.same($0, other) } ?? true
    }

    public var description: String {
        let what = switch kind {
        case .runsMayBeDue: "runs may be due"
        case .eventsAppended: "events appended"
        case .unknown: "the store changed"
        }
        return environment.map { "\(what) in \($0)" } ?? what
    }
}
