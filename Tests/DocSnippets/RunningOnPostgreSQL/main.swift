// Generated from Docs/Guides/RunningOnPostgreSQL.md by Scripts/doc-snippets.py: edit the page, then run
// python3 Scripts/doc-snippets.py

// Docs/Guides/RunningOnPostgreSQL.md:17
import Logging
import ServiceLifecycle
import Stepwise
import StepwisePostgres

func runCheckoutApp(logger: Logger) async throws {
    let store = try PostgresStore(
        try .init(url: "postgres://stepwise:secret@db.internal:5432/shop?sslmode=require"), logger: logger)
    let stepwise = StepwiseClient(id: "acme-storefront-app", store: store, logger: logger)
    try stepwise.createFunction(id: "send-receipt", trigger: .event("shop/checkout.completed")) { event, step in
        try await step.perform("email") { /* … */ }
    }
    try await ServiceGroup(services: [store, stepwise.worker()], logger: logger).run()
}
