/// An error a store throws that tells the engine what to do about it.
///
/// The engine cannot know what `SQLITE_BUSY` or a dropped PostgreSQL connection means, and
/// must not have to: every store maps its own errors onto this small vocabulary, and the
/// engine acts on the kind alone. So a second store needs no type of the first one, and the
/// engine imports no driver.
///
/// A store error that does not conform is treated as ``StoreFailureKind/permanent``: the
/// engine never retries what it cannot classify.
///
/// ``LeaseLostError`` is not a store failure and does not conform: the store worked, and
/// refused the commit because another worker holds the run (fencing). Retrying it could only
/// be refused again; the engine abandons the run's work instead.
///
/// ```swift
/// extension MyDriverError: StoreFailure {
///     public var storeFailureKind: StoreFailureKind {
///         switch self {
///         case .connectionReset, .serializationFailure, .deadlock: .transient
///         case .uniqueViolation, .undefinedTable: .permanent
///         }
///     }
/// }
/// ```
public protocol StoreFailure: Error, Sendable {
    /// What the engine may do about this failure.
    var storeFailureKind: StoreFailureKind { get }
}

extension StoreFailure {
    /// Whether the engine may retry the same call: the store promises that nothing of it was
    /// stored.
    public var isTransient: Bool { storeFailureKind.isTransient }
}

/// What kind of failure a store reports: whether the engine may retry the call, or must stop.
///
/// A struct over a closed set, with static members, so that the set can grow (a store that
/// can tell "the disk is full" apart, say) without breaking the stores that switch on it today.
public struct StoreFailureKind: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Sendable, Hashable {
        case transient
        case permanent
        case unreadableRecord
    }

    let kind: Kind

    /// The call failed and **nothing of it was stored**, for a reason that may pass: the
    /// database was busy or locked by another writer, a connection dropped before the
    /// transaction began, a serialization failure or a deadlock rolled the transaction back,
    /// the store is still starting. The engine retries it a few times, with jittered backoff,
    /// within the lease.
    ///
    /// A store must not report an error as transient when the call may have committed (a
    /// connection lost *during* `COMMIT`): a retried commit with a `step.sendEvent`'s events
    /// would append them twice. Such an outcome is ``permanent``: the engine then stops the
    /// run's work here, and the run, claimed again when its lease runs out, replays what did
    /// commit.
    public static let transient = StoreFailureKind(kind: .transient)

    /// Retrying cannot help, or the outcome is unknown: corruption, a constraint the engine
    /// violated, a schema this build does not know, an I/O error. The engine does what it did
    /// before this vocabulary existed: a worker stops the run's work (its lease brings the run
    /// back later), a caller gets the error.
    public static let permanent = StoreFailureKind(kind: .permanent)

    /// A record exists but cannot be read back (its JSON does not parse, or nests too deep):
    /// something other than Stepwise wrote it. Permanent, and specific enough that a caller
    /// can leave that one record out and go on (DESIGN.md, invariant 7): cancelling a run
    /// whose event is unreadable still cancels it.
    public static let unreadableRecord = StoreFailureKind(kind: .unreadableRecord)

    /// Whether the engine may retry the call.
    public var isTransient: Bool { kind == .transient }

    public var description: String {
        switch kind {
        case .transient: "transient"
        case .permanent: "permanent"
        case .unreadableRecord: "unreadable record"
        }
    }
}

/// A store was used before it was started: it has a ``StoreLifecycle`` and its `run()` has
/// not opened it yet. Transient, since a store that is starting serves requests soon; when it
/// persists, the app never runs the store (add it to the `ServiceGroup`, before the services
/// that use it).
public struct StoreNotStartedError: StoreFailure, Hashable, CustomStringConvertible {
    /// The store, in words (its type, say).
    public let store: String

    public init(store: String) {
        self.store = store
    }

    public var storeFailureKind: StoreFailureKind { .transient }

    public var description: String {
        "the store \(store) has not been started: run it as a service of the app's ServiceGroup, listed before the "
            + "workers and servers that use it"
    }
}

extension StoreFailureKind {
    /// The kind of `error` as the engine sees it: its own when it is a ``StoreFailure``,
    /// otherwise ``permanent`` (an error the engine cannot classify is never retried).
    /// `nil` for ``LeaseLostError``, which is no failure of the store.
    init?(of error: any Error) {
        if error is LeaseLostError { return nil }
        self = (error as? any StoreFailure)?.storeFailureKind ?? .permanent
    }
}
