import Logging
import PostgresNIO
public import Stepwise
import Synchronization

/// Wake-ups across hosts: `LISTEN`/`NOTIFY`, as a hint that coalesces, with polling as the
/// fallback (``StoreChangeFeed`` says a feed may drop or merge changes, never invent calm).
///
/// A `NOTIFY` inside a transaction serialises commits: PostgreSQL takes a global lock on its
/// notification queue at commit ("effectively serializing all commits", recall.ai's
/// measurement; Hatchet's `notify_coalescer.go`). So no transaction here notifies. A commit
/// that may make runs due marks its environment in ``PostgresNotifier``, and one background
/// task sends what accumulated every few milliseconds, each environment once, in one
/// statement on a connection of its own (`pg_notify` over an array).
final class PostgresNotifier: Sendable {
    /// Each marked environment, with the claimer that covered every mark of it since the last
    /// flush, if one did.
    private let pending = Mutex<[String: String?]>([:])
    private let wake = Mutex<CheckedContinuation<Void, Never>?>(nil)

    /// Separates a covering claimer from the environment in a payload: a control character,
    /// which no environment name holds (``EnvironmentName/validate(_:)``).
    static let coveredSeparator: Character = "\u{1F}"

    /// Marks an environment whose runs may have become due; sent with the next flush. With
    /// `coveredBy`, the claimer whose claim in the same commit took every run due for it
    /// (``StoreChange/coveredBy``): its worker, told so, does not look again for nothing.
    func mark(_ environment: String, coveredBy claimer: String? = nil) {
        let covering = claimer.flatMap { $0.contains(Self.coveredSeparator) ? nil : $0 }
        let isFirst = pending.withLock { pending in
            let wasEmpty = pending.isEmpty
            if let earlier = pending[environment] {
                // Covered only if every mark since the flush was covered by the same claimer.
                pending[environment] = earlier == covering ? earlier : String?.none
            } else {
                pending[environment] = covering
            }
            return wasEmpty
        }
        if isFirst { wake.withLock { $0.take() }?.resume() }
    }

    /// The payload of a notification: the environment, behind its covering claimer if any.
    static func payload(environment: String, coveredBy claimer: String?) -> String {
        claimer.map { "\($0)\(coveredSeparator)\(environment)" } ?? environment
    }

    /// The change a payload stands for.
    static func change(payload: String) -> StoreChange {
        guard let separator = payload.firstIndex(of: coveredSeparator) else { return .runsMayBeDue(environment: payload) }
        return .runsMayBeDue(
            environment: String(payload[payload.index(after: separator)...]), coveredBy: String(payload[..<separator]))
    }

    /// Sends the marked environments until cancelled, at most one statement per `interval`.
    func run(client: PostgresClient, channel: String, interval: Duration, logger: Logger) async {
        while !Task.isCancelled {
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let ready = pending.withLock { !$0.isEmpty }
                    if ready || Task.isCancelled {
                        continuation.resume()
                    } else {
                        wake.withLock { $0 = continuation }
                    }
                }
            } onCancel: {
                wake.withLock { $0.take() }?.resume()
            }
            // Let a burst of commits land in one notification per environment.
            try? await Task.sleep(for: interval)
            let environments = pending.withLock { pending in
                defer { pending.removeAll() }
                return pending.map { Self.payload(environment: $0.key, coveredBy: $0.value) }
            }
            guard !environments.isEmpty else { continue }
            do {
                try await client.query("SELECT pg_notify(\(channel), e) FROM unnest(\(environments)::text[]) AS e")
            } catch {
                // Lost is fine: the listeners' polling finds the runs. Logged for the operator.
                logger.debug("stepwise.postgres could not notify", metadata: ["error": "\(PostgresStoreError.reason(error))"])
            }
        }
    }
}

/// The subscribers of a store's change feed, fed by one listening connection.
final class PostgresListeners: Sendable {
    private let subscribers = Mutex<[Int: AsyncStream<StoreChange>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)

    func subscribe() -> AsyncStream<StoreChange> {
        let (stream, continuation) = AsyncStream.makeStream(of: StoreChange.self, bufferingPolicy: .bufferingNewest(16))
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        subscribers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    func publish(_ change: StoreChange) {
        for subscriber in subscribers.withLock({ Array($0.values) }) {
            subscriber.yield(change)
        }
    }

    func finishAll() {
        for subscriber in subscribers.withLock({ subscribers in
            defer { subscribers.removeAll() }
            return Array(subscribers.values)
        }) {
            subscriber.finish()
        }
    }

    /// Listens until cancelled, on a connection of its own; after a dropped connection,
    /// reconnects with backoff and tells every subscriber to look at the store again
    /// (``StoreChange/unknown``): notifications sent while it was away are gone.
    func run(client: PostgresClient, channel: String, logger: Logger) async {
        var backoff = Duration.milliseconds(50)
        var isFirst = true
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: channel) { notifications in
                        if !isFirst { publish(.unknown) }
                        isFirst = false
                        backoff = .milliseconds(50)
                        for try await notification in notifications {
                            publish(PostgresNotifier.change(payload: notification.payload))
                        }
                    }
                }
            } catch {
                if Task.isCancelled { break }
                logger.debug(
                    "stepwise.postgres listener lost its connection, reconnecting",
                    metadata: ["error": "\(PostgresStoreError.reason(error))", "retryIn": "\(backoff)"])
            }
            isFirst = false
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
        finishAll()
    }
}

extension PostgresStore: StoreChangeFeed {
    /// Changes committed by any process on the database: each environment whose runs may have
    /// become due, from `LISTEN`, and "look again" after the listener reconnected.
    public func changes() -> AsyncStream<StoreChange> {
        listeners.subscribe()
    }

    /// The channel of this store's schema: a valid identifier whatever the schema's name,
    /// so that two stores in one database do not wake each other.
    static func channel(schema: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in schema.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let readable = String(schema.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }.prefix(24))
        return "stepwise_\(readable)_\(String(hash, radix: 16))"
    }
}
