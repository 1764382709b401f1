import Foundation
import Stepwise
import Synchronization

/// Decides which environment a request addresses (`x-inngest-env`), and whether it may.
///
/// Names are held to ``EnvironmentName``'s rules and compared by their Unicode scalars, as the
/// store compares them: a spelling admitted here is the spelling stored, never a canonically
/// equivalent one that the store would file apart.
final class EnvironmentGate: Sendable {
    /// The header Inngest's SDKs send a branch environment's name in.
    static let headerName = "x-inngest-env"

    private let store: any Store
    private let defaultEnvironment: String
    private let isDevelopment: Bool
    /// Environments known to be allowed, by their UTF-8 bytes: configured ones, and ones seen in
    /// use on the store (an environment never stops being in use, so a positive answer is kept).
    private let known: Mutex<Set<[UInt8]>>

    init(store: any Store, defaultEnvironment: String, configuration: StepwiseHTTPConfiguration) {
        self.store = store
        self.defaultEnvironment = defaultEnvironment
        self.isDevelopment = configuration.isDevelopment
        self.known = Mutex(Set(configuration.environments.union([defaultEnvironment]).map(EnvironmentName.key)))
    }

    /// The environment a request with this header value addresses.
    ///
    /// - Throws: ``APIError`` 400 for a name that breaks ``EnvironmentName``'s rules (invalid
    ///   UTF-8 arrives as U+FFFD and is refused with them); 404 for an environment that is
    ///   neither configured nor in use, outside development mode.
    func environment(forHeader value: String?) async throws -> String {
        guard let value else { return defaultEnvironment }
        // HTTP strips the spaces around a field value already; a value of spaces alone is no name.
        let environment = value.trimmingCharacters(in: CharacterSet(charactersIn: " \t"))
        guard !environment.isEmpty else { return defaultEnvironment }
        do {
            try EnvironmentName.validate(environment)
        } catch {
            throw APIError(.badRequest, "\(Self.headerName): \(error)")
        }
        let key = EnvironmentName.key(environment)
        if isDevelopment || known.withLock({ $0.contains(key) }) { return environment }
        if try await store.environmentExists(environment) {
            known.withLock { _ = $0.insert(key) }
            return environment
        }
        throw APIError(
            .notFound,
            "environment '\(environment)' (\(Self.headerName)) is not configured: add it to STEPWISE_ENVIRONMENTS, or start a worker in it")
    }
}
