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
