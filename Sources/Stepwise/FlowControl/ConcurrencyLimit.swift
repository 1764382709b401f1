/// How many runs may execute at once: per function, or per key (a customer, a tenant, a
/// shared API), counted within a scope.
///
/// Only runs that are executing count: a run that sleeps, waits for an event or waits for an
/// invoked run gives its slot back, and waits for one again when it resumes. A run that
/// finds no slot is parked until a run holding one leaves it, so a full key costs claims
/// nothing and never holds up the runs of other keys.
///
/// ```swift
/// // At most 10 runs of the function, and 1 per customer, at a time.
/// FunctionOptions(concurrency: [.init(limit: 10), .init(limit: 1, key: "event.data.customerId")])
/// ```
public struct ConcurrencyLimit: Sendable, Hashable {
    /// How many runs with one key may execute at once; at least 1.
    public var limit: Int
    /// What the runs are counted by; `nil` counts every run of the function together (and
    /// then the scope must be ``ConcurrencyScope/function``).
    public var key: EventExpression?
    /// Which runs share a key's count.
    public var scope: ConcurrencyScope

    /// A limit for runs with the same `key` value within `scope`.
    public init(limit: Int, key: EventExpression? = nil, scope: ConcurrencyScope = .function) {
        self.limit = limit
        self.key = key
        self.scope = scope
    }
}

/// Which runs share a concurrency key's count.
public enum ConcurrencyScope: String, Sendable, Hashable, CaseIterable {
    /// The function's own runs (Inngest's `fn`).
    case function
    /// The runs of every function in the environment that declares the same key (`env`):
    /// one shared limit for an API that several functions call.
    case environment
    /// The runs of every function on the store, in every environment (`account`).
    case store
}
