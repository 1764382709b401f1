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
    /// The statements waiting on each connection, failed when it closes.
    let watch = PostgresConnectionWatch()
    /// Each environment's triggers as last read, with the registry version they were read
    /// at: an append fans out with them and checks the version in its statement.
    let triggerCache = Mutex<[String: CachedTriggers]>([:])
    /// Environments where an append last found runs waiting for events: their appends take
    /// the general path, which resolves waits, until one finds none waiting.
    let environmentsWithWaits = Mutex<Set<String>>([])
    /// Step checkpoints of runs in flight together, committed in one call.
    let checkpointBatcher = PostgresCheckpointBatcher()
    /// The `LISTEN`/`NOTIFY` channel of this store's schema.
    let channel: String
    private let state = Mutex(State.notStarted(waiters: [:]))

    struct CachedTriggers: Sendable {
        let version: Int64
        let index: TriggerIndex
    }

    enum State {
        case notStarted(waiters: [Int: CheckedContinuation<Void, any Error>])
        case ready
        case stopped(any Error)
    }
    private let nextWaiter = Atomic<Int>(0)

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
                try await probe()
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

    public func waitUntilReady() async throws {
        let id = nextWaiter.wrappingAdd(1, ordering: .relaxed).oldValue
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resume: Result<Void, any Error>? = state.withLock { state in
                    switch state {
                    case .notStarted(var waiters):
                        if Task.isCancelled { return .failure(CancellationError()) }
                        waiters[id] = continuation
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
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard case .notStarted(var waiters) = state, let waiter = waiters.removeValue(forKey: id) else { return nil }
                state = .notStarted(waiters: waiters)
                return waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Opens one connection of its own before the pool starts work, so that a server that
    /// is not there (a wrong host or port, a refused login, a missing database) fails `run()`
    /// within the connect timeout, with the server's or the system's reason. Left to the
    /// pool, the first request would wait while it retries, until its circuit breaker gives up
    /// a minute later, naming only itself.
    private func probe() async throws {
        do {
            var connection = try configuration.connectionConfiguration()
            connection.options.connectTimeout = .nanoseconds(
                configuration.connectTimeout.components.seconds * 1_000_000_000 + configuration.connectTimeout.components.attoseconds / 1_000_000_000)
            let opened = try await PostgresConnection.connect(configuration: connection, id: 0, logger: logger)
            try? await opened.close()
        } catch {
            throw PostgresStoreError.unreachable(server: configuration.serverDescription, reason: PostgresStoreError.reason(error))
        }
    }

    private func becomeReady() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            guard case .notStarted(let waiters) = state else { return [] }
            state = .ready
            return Array(waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    private func finish(with error: any Error) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            let waiters: [CheckedContinuation<Void, any Error>]
            if case .notStarted(let pending) = state { waiters = Array(pending.values) } else { waiters = [] }
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
