import Logging
import Stepwise
import Synchronization

/// One ``StepwiseClient`` per environment a request addresses, all on the served client's
/// store: the served client for its own environment (so that its worker hears of the events at
/// once, on its bus), and a client with no functions for each other one.
///
/// Clients are found by the name's UTF-8 bytes, not by `String` equality, which would hand
/// the client of one spelling to a request for a canonically equivalent other.
final class EnvironmentClients: Sendable {
    /// More environments than this in one server's life, and the cache starts over: only a
    /// development server accepts any name, and a client costs little to make again.
    private static let cacheLimit = 1000

    let served: StepwiseClient
    private let others = Mutex<[[UInt8]: StepwiseClient]>([:])

    init(served: StepwiseClient) {
        self.served = served
    }

    func client(for environment: String) -> StepwiseClient {
        if EnvironmentName.same(environment, served.configuration.environment) { return served }
        let key = EnvironmentName.key(environment)
        return others.withLock { others in
            if let client = others[key] { return client }
            if others.count >= Self.cacheLimit { others.removeAll() }
            var configuration = served.configuration
            configuration.environment = environment
            let client = StepwiseClient(id: served.id, store: served.store, configuration: configuration, logger: served.logger)
            others[key] = client
            return client
        }
    }
}
