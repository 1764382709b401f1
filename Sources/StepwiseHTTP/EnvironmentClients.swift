import Logging
import Stepwise
import Synchronization

/// One ``StepwiseClient`` per environment a request addresses, all on the served client's
/// store: the served client for its own environment (so that its worker hears of the events at
/// once, on its bus), and a client with no functions for each other one.
final class EnvironmentClients: Sendable {
    /// More environments than this in one server's life, and the cache starts over: only a
    /// development server accepts any name, and a client costs little to make again.
    private static let cacheLimit = 1000

    let served: StepwiseClient
    private let others = Mutex<[String: StepwiseClient]>([:])

    init(served: StepwiseClient) {
        self.served = served
    }

    func client(for environment: String) -> StepwiseClient {
        if environment == served.configuration.environment { return served }
        return others.withLock { others in
            if let client = others[environment] { return client }
            if others.count >= Self.cacheLimit { others.removeAll() }
            var configuration = served.configuration
            configuration.environment = environment
            let client = StepwiseClient(id: served.id, store: served.store, configuration: configuration, logger: Logger(label: "stepwise"))
            others[environment] = client
            return client
        }
    }
}
