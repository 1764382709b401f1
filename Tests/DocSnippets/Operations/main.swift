// Generated from Docs/Guides/Operations.md by Scripts/doc-snippets.py: edit the page, then run
// python3 Scripts/doc-snippets.py

// Docs/Guides/Operations.md:49
import Stepwise
import StepwiseEncryption

func makeClient(keys: String) throws -> StepwiseClient {
    let cipher = try AESGCMCipher(configuration: keys)
    return StepwiseClient(
        id: "acme-storefront-app", store: try .sqlite(path: "stepwise.db"),
        configuration: .init(userEncryption: .encrypted(with: cipher)))
}

// Docs/Guides/Operations.md:65
let development = StepwiseClient(
    id: "acme-storefront-app", store: try .sqlite(path: "dev.db"), configuration: .init(userEncryption: .plaintext))

// Docs/Guides/Operations.md:126
import ServiceLifecycle

func runWorker(_ stepwise: StepwiseClient) async throws {
    let retention = stepwise.retention(RetentionPolicy(maximumAge: .seconds(30 * 86_400)))
    try await ServiceGroup(services: [stepwise.worker(), retention], logger: stepwise.logger).run()
}

// Docs/Guides/Operations.md:153
import Hummingbird
import StepwiseHTTP

func observedApp(store: SQLiteStore) -> (StepwiseClient, PrometheusEndpoint) {
    let metrics = PrometheusEndpoint()
    let stepwise = StepwiseClient(
        id: "acme-storefront-app", store: store,
        configuration: .init(userEncryption: .plaintext, metricsFactory: metrics.factory))
    return (stepwise, metrics)
}

func observedRouter(_ stepwise: StepwiseClient, metrics: PrometheusEndpoint) -> Router<BasicRequestContext> {
    // The Event and REST APIs, every request timed, and `GET /metrics` for the scraper.
    StepwiseHTTPAPI(client: stepwise, configuration: StepwiseHTTPConfiguration(isDevelopment: false)).router(metrics: metrics)
}
