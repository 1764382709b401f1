import Foundation
import Stepwise
import Synchronization

/// Decides which environment a request addresses (`x-inngest-env`), and whether it may.
final class EnvironmentGate: Sendable {
    /// The header Inngest's SDKs send a branch environment's name in.
    static let headerName = "x-inngest-env"
    /// The longest environment name accepted: a branch name with room to spare.
    static let maximumNameLength = 256

    private let store: any Store
    private let defaultEnvironment: String
    private let isDevelopment: Bool
    /// Environments known to be allowed: configured ones, and ones seen in use on the store
    /// (an environment never stops being in use, so a positive answer is kept).
    private let known: Mutex<Set<String>>

    init(store: any Store, defaultEnvironment: String, configuration: StepwiseHTTPConfiguration) {
        self.store = store
        self.defaultEnvironment = defaultEnvironment
        self.isDevelopment = configuration.isDevelopment
        self.known = Mutex(configuration.environments.union([defaultEnvironment]))
    }

    /// The environment a request with this header value addresses.
    ///
    /// - Throws: ``APIError`` 400 for a malformed name; 404 for an environment that is not
    ///   configured nor in use, outside development mode.
    func environment(forHeader value: String?) async throws -> String {
        guard let value else { return defaultEnvironment }
        let name = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty else { return defaultEnvironment }
        guard name.count <= Self.maximumNameLength, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw APIError(.badRequest, "\(Self.headerName): an environment name is 1 to \(Self.maximumNameLength) characters, without control characters")
        }
        if isDevelopment || known.withLock({ $0.contains(name) }) { return name }
        if try await store.environmentExists(name) {
            known.withLock { _ = $0.insert(name) }
            return name
        }
        throw APIError(
            .notFound,
            "environment '\(name)' (\(Self.headerName)) is not configured: add it to STEPWISE_ENVIRONMENTS, or start a worker in it")
    }
}
