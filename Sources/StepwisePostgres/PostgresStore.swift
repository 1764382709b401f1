public import Logging
import ServiceLifecycle
@_spi(StoreImplementation) public import Stepwise
import PostgresNIO
import Synchronization

/// The store for apps that run on several hosts: one PostgreSQL database, shared by every
/// instance of the app, with the guarantees ``SQLiteStore`` keeps on one machine.
///
/// A `Service`: its `run()` owns the connection pool (postgres-nio's `PostgresClient`),
/// migrates the schema and serves until the group shuts down. List it before the services
/// that use it, so that it outlives them:
///
/// ```swift
/// let store = try PostgresStore(.init(url: "postgres://stepwise@db.internal/app"), logger: logger)
/// let stepwise = StepwiseClient(id: "acme-storefront-app", store: store, logger: logger)
/// try await ServiceGroup(services: [store, stepwise.worker(), httpServer], logger: logger).run()
/// ```
///
/// Each requirement of ``Store`` is one transaction on one pooled connection. Two workers on
/// two hosts claim different runs (`FOR UPDATE SKIP LOCKED`), a commit is fenced by a locked
/// read of the run's lease token, and dedupe ids, seeds and one run per event are held by
/// constraints, so concurrent transactions keep the contract without a single writer.
public final class PostgresStore: Store, StoreLifecycle {
    public let configuration: Configuration
    let client: PostgresClient
    let logger: Logger
    let idGenerator: ULIDGenerator
    let notifier = PostgresNotifier()
    let listeners = PostgresListeners()
    /// The `LISTEN`/`NOTIFY` channel of this store's schema.
    let channel: String
    private let state = Mutex(State.notStarted(waiters: []))

    enum State {
        case notStarted(waiters: [CheckedContinuation<Void, any Error>])
        case ready
        case stopped(any Error)
    }

    /// Makes the store; nothing connects until ``run()``.
    ///
    /// - Parameter logger: the app's logger, for the pool's background messages and the
    ///   store's own (migrations, reconnects).
    /// - Throws: ``PostgresStoreError/invalidConfiguration(_:)`` when the configuration
    ///   cannot describe a server (an empty schema name, a pool of no connections).
    public init(_ configuration: Configuration, logger: Logger, idGenerator: ULIDGenerator = .shared) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        self.idGenerator = idGenerator
        self.channel = Self.channel(schema: configuration.schema)
        self.client = PostgresClient(configuration: configuration.clientConfiguration(), backgroundLogger: logger)
    }

    /// Connects, migrates the schema, and serves requests until the task is cancelled or the
    /// service group shuts down.
    ///
    /// - Throws: ``PostgresStoreError/unreachable(server:reason:)`` when the server cannot be
    ///   reached or refuses the login, ``PostgresStoreError/schemaTooNew(found:known:)`` when a
    ///   newer Stepwise migrated the database.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            do {
                try await firstConnection()
                try await migrate()
            } catch {
                let failure = PostgresStoreError(startingWith: error, configuration: configuration)
                finish(with: failure)
                throw failure
            }
            group.addTask { await self.listeners.run(client: self.client, channel: self.channel, logger: self.logger) }
            group.addTask {
                await self.notifier.run(client: self.client, channel: self.channel, interval: .milliseconds(2), logger: self.logger)
            }
            becomeReady()
            logger.debug("stepwise.postgres ready", metadata: ["server": "\(configuration.serverDescription)", "schema": "\(configuration.schema)"])
            // Serve until the group's graceful shutdown, or until cancelled: the pool's task
            // ends on either, and with it this group.
            try? await gracefulShutdown()
            finish(with: CancellationError())
            listeners.finishAll()
            group.cancelAll()
        }
    }

    /// Returns once the pool has opened a connection; throws
    /// ``PostgresStoreError/unreachable(server:reason:)`` when it opened none within the
    /// configuration's `connectTimeout`.
    ///
    /// postgres-nio's pool does not fail a request while it cannot connect: it queues it and
    /// retries with backoff until its circuit breaker trips, a minute after the first failure
    /// (`ConnectionPoolConfiguration.circuitBreakerTripAfter`, which `PostgresClient` does not
    /// expose). Without this bound, a store whose server is down would look as if it were
    /// starting for that minute, and `run()` would not say why.
    private func firstConnection() async throws {
        let timeout = configuration.connectTimeout
        let connected = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await self.client.withConnection { _ in }
                return true
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return false
            }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
        guard connected else {
            throw PostgresStoreError.unreachable(
                server: configuration.serverDescription,
                reason: "no connection opened within \(timeout) (the connect timeout): refused, timed out or the login rejected; "
                    + "the store's logger has each attempt's error at info level")
        }
    }

    public func waitUntilReady() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let resume: Result<Void, any Error>? = state.withLock { state in
                switch state {
                case .notStarted(var waiters):
                    waiters.append(continuation)
                    state = .notStarted(waiters: waiters)
                    return nil
                case .ready:
                    return .success(())
                case .stopped(let error):
                    return .failure(error)
                }
            }
            if let resume { continuation.resume(with: resume) }
        }
    }

    private func becomeReady() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            guard case .notStarted(let waiters) = state else { return [] }
            state = .ready
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func finish(with error: any Error) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            let waiters: [CheckedContinuation<Void, any Error>]
            if case .notStarted(let pending) = state { waiters = pending } else { waiters = [] }
            state = .stopped(error)
            return waiters
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    /// Refuses a call made before ``run()`` has opened the store (transient: it is starting),
    /// or after it stopped (permanent: it never will serve again).
    func ensureRunning() throws {
        try state.withLock { state in
            switch state {
            case .ready: return
            case .notStarted: throw StoreNotStartedError(store: "PostgresStore(\(configuration.serverDescription))")
            case .stopped(let error): throw PostgresStoreError.stopped(reason: "\(error)")
            }
        }
    }
}
