import Foundation

/// How the Event API and the REST API admit requests.
///
/// In development mode (`stepwise dev`, Inngest's Dev Server) any event key is accepted, the
/// REST API needs no signing key, and an environment comes into being on its first event.
/// Outside it, events need a configured event key, the REST API a signing key, and an
/// environment must be configured or already in use on the store.
public struct StepwiseHTTPConfiguration: Sendable {
    /// Whether this is a development server.
    public var isDevelopment: Bool
    /// The event keys that may send events (`POST /e/{key}`), kept as hashes.
    public var eventKeys: SecretKeys
    /// The signing keys that may use the REST API (`Authorization: Bearer <key>`), kept as hashes.
    public var signingKeys: SecretKeys
    /// Environments accepted in `x-inngest-env` besides the client's own and those in use on
    /// the store (where an app registered functions or events were stored).
    public var environments: Set<String>
    /// The largest request body accepted; a larger one is answered 413 unread. The events in
    /// it are further held to the client's ``EventLimits``.
    public var maxRequestBytes: Int
    /// The most bytes of JSON one page of a REST listing answers with, besides its `limit`:
    /// a page is cut where the next record would pass it, and its cursor continues from there.
    public var maxPageBytes: Int
    /// The most bytes of request bodies held in memory at once, across all requests: a request
    /// reserves its declared length (or ``maxRequestBytes``) before reading its body, and waits
    /// while the budget is spent, reading nothing. This, not the number of clients, bounds
    /// what uploads cost, however many stall halfway.
    public var maxBufferedRequestBytes: Int

    /// A configuration in code; ``fromEnvironment(_:isDevelopment:)`` reads the usual variables.
    public init(
        isDevelopment: Bool, eventKeys: SecretKeys = SecretKeys([]), signingKeys: SecretKeys = SecretKeys([]),
        environments: Set<String> = [], maxRequestBytes: Int = 1 << 20, maxPageBytes: Int = RecordQueries.defaultMaxPageBytes,
        maxBufferedRequestBytes: Int = 32 << 20
    ) {
        self.isDevelopment = isDevelopment
        self.eventKeys = eventKeys
        self.signingKeys = signingKeys
        self.environments = environments
        self.maxRequestBytes = maxRequestBytes
        self.maxPageBytes = maxPageBytes
        self.maxBufferedRequestBytes = maxBufferedRequestBytes
    }

    /// The configuration given by environment variables:
    /// - `STEPWISE_EVENT_KEYS`: event keys, comma-separated; `INNGEST_EVENT_KEY`: one more.
    /// - `STEPWISE_SIGNING_KEY` (and `INNGEST_SIGNING_KEY`): the REST API's signing key.
    /// - `STEPWISE_ENVIRONMENTS`: environments, comma-separated.
    public static func fromEnvironment(_ variables: [String: String], isDevelopment: Bool) -> StepwiseHTTPConfiguration {
        func list(_ name: String) -> [String] {
            (variables[name] ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        }
        return StepwiseHTTPConfiguration(
            isDevelopment: isDevelopment,
            eventKeys: SecretKeys(list("STEPWISE_EVENT_KEYS") + [variables["INNGEST_EVENT_KEY"] ?? ""]),
            signingKeys: SecretKeys([variables["STEPWISE_SIGNING_KEY"] ?? "", variables["INNGEST_SIGNING_KEY"] ?? ""]),
            environments: Set(list("STEPWISE_ENVIRONMENTS")))
    }

    /// What a production server lacks to start, in words; empty when nothing is missing.
    public var missingForProduction: [String] {
        var missing: [String] = []
        if eventKeys.isEmpty { missing.append("no event key: set STEPWISE_EVENT_KEYS (comma-separated) or INNGEST_EVENT_KEY") }
        if signingKeys.isEmpty { missing.append("no signing key: set STEPWISE_SIGNING_KEY (or INNGEST_SIGNING_KEY)") }
        return missing
    }
}
