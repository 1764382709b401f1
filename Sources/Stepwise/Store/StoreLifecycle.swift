public import ServiceLifecycle

/// A store that must be running to serve requests: a connection pool whose `run()` owns its
/// connections (postgres-nio's `PostgresClient`), a store that opens asynchronously.
///
/// An optional capability: a store that needs nothing of the kind does not conform. The
/// store is a `Service`, so the app runs it in its `ServiceGroup`, listed before the services
/// that use it (a group shuts its services down in reverse order, so the store outlives
/// them):
///
/// ```swift
/// let store = try MyPooledStore(url: databaseURL)
/// let stepwise = StepwiseClient(id: "acme-storefront-app", store: store)
/// try await ServiceGroup(services: [store, stepwise.worker(), httpServer], logger: logger).run()
/// ```
///
/// A group starts its services together, so a worker's first call could come before the
/// store's `run()` has opened it: the worker awaits ``waitUntilReady()`` first. Any other
/// call made too early fails with ``StoreNotStartedError`` (transient), which says what to do.
///
/// ``SQLiteStore`` has no lifecycle: its initializer opens and migrates the file, which takes
/// milliseconds and is best done (and failed) at startup, and its connections live on
/// threads of their own rather than in a task that someone must run.
public protocol StoreLifecycle: Store, Service {
    /// Returns once the store serves requests; throws when it never will (its `run()` failed
    /// or ended), or when the calling task is cancelled.
    func waitUntilReady() async throws
}
