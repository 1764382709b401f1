import Foundation
import NIOCore
import NIOPosix
import Stepwise
import StepwisePostgres

/// Opening a PostgreSQL store from the tool without hanging on a server that is not there.
///
/// The store's `run()` fails with `PostgresStoreError.unreachable` when it cannot connect, but
/// only once postgres-nio's pool gives up: its circuit breaker trips a minute after the first
/// failed attempt, and until then a request waits while the pool retries. A person at a
/// terminal, or a script, must hear in seconds. So the tool first opens one TCP connection to
/// the server (a wrong host or port fails at once, with the system's reason), and then waits
/// for the store to open for at most ``openingLimit``, naming the server when it does not.
enum StoreStartup {
    /// How long a store may take to open once its server answers: the pool's connect timeout
    /// (10 s) and a migration, with room to spare.
    static let openingLimit: Duration = .seconds(30)

    /// Fails with `PostgresStoreError.unreachable` when no TCP connection to the server opens
    /// within its connect timeout. A unix socket is not probed: its path is checked by the
    /// first connection, which fails as quickly.
    static func probe(_ configuration: PostgresStore.Configuration) async throws {
        guard case .tcp(let host, let port) = configuration.endpoint else { return }
        let timeout = configuration.connectTimeout.components.seconds
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(max(1, timeout)))
                .connect(host: host, port: port).get()
            try? await channel.close().get()
        } catch {
            throw PostgresStoreError.unreachable(server: configuration.serverDescription, reason: reason(error))
        }
    }

    /// The system's reason for a failed connection, in one line.
    static func reason(_ error: any Error) -> String {
        if let error = error as? NIOConnectionError {
            if let dns = error.dnsAAAAError ?? error.dnsAError, error.connectionErrors.isEmpty { return "the host name does not resolve: \(dns)" }
            let reasons = error.connectionErrors.map { "\($0.target): \($0.error)" }
            return reasons.isEmpty ? "no address to connect to" : reasons.joined(separator: "; ")
        }
        if error is ChannelError { return "\(error) (no answer within the connect timeout)" }
        return "\(error)"
    }

    /// Returns once `store` serves requests; throws what stopped it, or
    /// `PostgresStoreError.unreachable` after `limit`, or `CancellationError` when the calling
    /// task is cancelled (a server asked to stop while it waits).
    ///
    /// Waits through tasks of its own rather than a child task: `waitUntilReady()` returns
    /// only once the store opens or stops, and a child task would keep this call waiting
    /// until then however it was told to end. The waiting task ends once the store's `run()`
    /// ends, which its caller's group sees to when this throws.
    static func waitUntilOpen(_ store: some StoreLifecycle, server: String, within limit: Duration = openingLimit) async throws {
        let (outcomes, continuation) = AsyncStream<Result<Void, any Error>>.makeStream()
        Task {
            do {
                try await store.waitUntilReady()
                continuation.yield(.success(()))
            } catch {
                continuation.yield(.failure(error))
            }
            continuation.finish()
        }
        let timer = Task {
            try await Task.sleep(for: limit)
            continuation.yield(
                .failure(PostgresStoreError.unreachable(server: server, reason: "the store did not open within \(limit.components.seconds) seconds")))
            continuation.finish()
        }
        defer { timer.cancel() }
        var iterator = outcomes.makeAsyncIterator()
        guard let outcome = await iterator.next() else { throw CancellationError() }
        try outcome.get()
    }
}
