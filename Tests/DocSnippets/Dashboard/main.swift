// Generated from Docs/Guides/Dashboard.md by Scripts/doc-snippets.py: edit the page, then run
// python3 Scripts/doc-snippets.py

// Docs/Guides/Dashboard.md:135
import Hummingbird
import Stepwise
import StepwiseDashboard
import StepwiseHTTP

let stepwise = StepwiseClient(id: "acme-storefront-app", store: try .sqlite(path: "stepwise.db"))
let configuration = StepwiseHTTPConfiguration(isDevelopment: false, signingKeys: SecretKeys(["a-long-random-signing-key"]))

let router = Router()
router.get("health") { _, _ in "ok" }
StepwiseHTTPAPI(client: stepwise, configuration: configuration).addRoutes(to: router)
StepwiseDashboard(client: stepwise, configuration: configuration).addRoutes(to: router, at: "/stepwise")
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 8080)))
