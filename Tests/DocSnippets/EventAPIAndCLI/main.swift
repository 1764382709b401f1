// Generated from Docs/Guides/EventAPIAndCLI.md by Scripts/doc-snippets.py: edit the page, then run
// python3 Scripts/doc-snippets.py

// Docs/Guides/EventAPIAndCLI.md:266
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Stepwise
import StepwiseHTTP

let logger = Logger(label: "acme-storefront-app")
let stepwise = StepwiseClient(id: "acme-storefront-app", store: try .sqlite(path: "stepwise.db"), logger: logger)
try stepwise.createFunction(id: "send-receipt", trigger: .event("storefront/cart.checkout.completed")) { event, step in
    try await step.run("render-receipt") { "receipt for \(event.data["cartId"] ?? nil)" }
}

let configuration = StepwiseHTTPConfiguration.fromEnvironment(ProcessInfo.processInfo.environment, isDevelopment: false)
guard configuration.missingForProduction.isEmpty else {
    configuration.missingForProduction.forEach { logger.critical("\($0)") }
    exit(1)
}

let router = Router()
router.get("health") { _, _ in "ok" }
StepwiseHTTPAPI(client: stepwise, configuration: configuration).addRoutes(to: router)

let app = Application(router: router, configuration: .init(address: .hostname("0.0.0.0", port: 8080)), logger: logger)
try await ServiceGroup(services: [stepwise.worker(), app], gracefulShutdownSignals: [.sigterm, .sigint],
                       logger: logger).run()

// Docs/Guides/EventAPIAndCLI.md:318
import Stepwise
import StepwiseHTTPClient

func checkoutCompleted(cartID: String, events: some EventSender) async throws {
    try await events.send(Event(name: "storefront/cart.checkout.completed", data: ["cartId": .string(cartID)],
                                id: "cart-checkout-completed-\(cartID)"))
}

let sender = try HTTPEventSender(configuration: .fromEnvironment())
try await checkoutCompleted(cartID: "ed12c8bde", events: sender)

// Docs/Guides/EventAPIAndCLI.md:355
let events = [Event(name: "storefront/coupon.used", data: ["code": "WELCOME10"])]
do {
    try await sender.send(events)
} catch let error as EventValidationError {
    // Invalid before sending: nothing went out.
    logger.error("not sent: \(error)")
} catch HTTPEventSenderError.rejected(let status, let message) {
    // A 4xx other than 429 (bad key, unknown environment, …): nothing was stored.
    logger.error("refused with \(status): \(message)")
} catch HTTPEventSenderError.unreachable(let attempts, let lastFailure) {
    // Every attempt failed on the network or with a 5xx or 429.
    logger.error("unreachable after \(attempts) attempts: \(lastFailure)")
}

// Docs/Guides/EventAPIAndCLI.md:445
// `stepwise` as in the mounting example above.
let limits = StepwiseServerLimits(headerTimeout: .seconds(10), idleTimeout: .seconds(60), bodyTimeout: .seconds(60))
let guardedRouter = Router()
StepwiseHTTPAPI(client: stepwise, configuration: .init(isDevelopment: true)).addRoutes(to: guardedRouter)
let guardedApp = Application(
    router: guardedRouter, server: limits.server,
    configuration: limits.applicationConfiguration(address: .hostname("127.0.0.1", port: 8080)))
try await guardedApp.runService()
