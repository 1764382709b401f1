// Generated from Docs/Guides/FunctionsAndSteps.md by Scripts/doc-snippets.py: edit the page, then run
// python3 Scripts/doc-snippets.py

// Docs/Guides/FunctionsAndSteps.md:14
import Stepwise

struct Receipt: Codable, Sendable {
    let id: String
    let cartId: String
}

/// Your own code: here it only makes up a receipt.
func renderReceipt(cartId: String?) async throws -> Receipt {
    Receipt(id: "receipt-\(cartId ?? "none")", cartId: cartId ?? "none")
}

let stepwise = StepwiseClient(id: "acme-storefront-app", store: try .sqlite(path: "stepwise.db"))

try stepwise.createFunction(id: "send-receipt", trigger: .event("storefront/cart.checkout.completed")) { event, step in
    let receipt = try await step.run("render-receipt") {
        try await renderReceipt(cartId: event.data["cartId"]?.stringValue)
    }
    try await step.sendEvent("receipt-rendered",
        Event(name: "storefront/receipt.rendered", data: receipt))
    return receipt.id
}

// Docs/Guides/FunctionsAndSteps.md:55
var chargeOptions = FunctionOptions.default
chargeOptions.name = "Charge a cart"
chargeOptions.retries = RetryPolicy(retries: 2)
chargeOptions.timeouts = FunctionTimeouts(finish: .seconds(600))

// Docs/Guides/FunctionsAndSteps.md:68
struct CartCompleted: Codable, Sendable {
    let cartId: String
    let itemIds: [String]
}

let countItems = try stepwise.createFunction(id: "count-items", trigger: .event("storefront/cart.checkout.completed"),
                                             eventData: CartCompleted.self) { event, step in
    event.data.itemIds.count
}

// Docs/Guides/FunctionsAndSteps.md:93
import Logging
import ServiceLifecycle

let logger = Logger(label: "acme-storefront-app")
let worker = stepwise.worker(.init(concurrency: 16))
// Beside your other services, such as your HTTP server.
let services = ServiceGroup(services: [worker], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)

// Docs/Guides/FunctionsAndSteps.md:122
struct Payments: Sendable {
    func charge(_ cartId: String) async throws -> Int { 4200 }
}
let payments = Payments()

try stepwise.createFunction(id: "charge-cart", trigger: .event("storefront/cart.checkout.completed")) { event, step in
    let cartId = event.data["cartId"]?.stringValue ?? ""
    let total = try await step.run("charge-card") { try await payments.charge(cartId) }
    return total
}

// Docs/Guides/FunctionsAndSteps.md:143
struct Mailer: Sendable {
    func send(to address: String) async throws {}
}
let mailer = Mailer()

try stepwise.createFunction(id: "welcome", trigger: .event("app/user.signup")) { event, step in
    try await step.perform("send-welcome") { try await mailer.send(to: event.data["email"]?.stringValue ?? "") }
}

// Docs/Guides/FunctionsAndSteps.md:164
try stepwise.createFunction(id: "cart-totals", trigger: .event("storefront/cart.updated")) { event, step in
    let totals = try await step.run("totals") { () -> JSON in ["zeta": 1, "alpha": 2.0] }
    return totals
}

// Docs/Guides/FunctionsAndSteps.md:182
try stepwise.createFunction(id: "activate-user", trigger: .event("app/user.signup")) { event, step in
    let userId = event.data["userId"] ?? nil
    let ids = try await step.sendEvent("send-activation-event", [
        Event(name: "app/user.activated", data: ["userId": userId]),
    ])
    return ids.map(\.description)
}

// Docs/Guides/FunctionsAndSteps.md:220
struct CRM: Sendable {
    func update(_ contact: JSON) async throws {}
}
let crm = CRM()

try stepwise.createFunction(
    id: "sync-crm",
    trigger: .event("crm/contact.updated"),
    options: .init(retries: RetryPolicy(retries: 10, backoff: .exponentialJitter(base: .seconds(2))))
) { event, step in
    try await step.perform("update-contact") { try await crm.update(event.data) }
}

// Docs/Guides/FunctionsAndSteps.md:249
/// Your own code: tells someone.
func alert(_ error: JSON?) async throws {}

try stepwise.createFunction(
    id: "charge",
    trigger: .event("billing/invoice.due"),
    options: .init(onFailure: { failure, step in
        try await step.perform("alert-finance") { try await alert(failure.data["error"]) }
    })
) { event, step in
    try await step.run("charge-invoice") { try await payments.charge(event.data["invoiceId"]?.stringValue ?? "") }
}

// Docs/Guides/FunctionsAndSteps.md:274
try stepwise.createFunction(id: "audit-checkout", trigger: .event("storefront/cart.checkout.completed")) { event, step in
    Logger.current.info("auditing")                       // stepwise.run, stepwise.function
    try await step.perform("write-audit-record") {
        Logger.current.info("writing the audit record")   // and stepwise.step
    }
}

// Docs/Guides/FunctionsAndSteps.md:285
let eventID = try await stepwise.send(Event(name: "storefront/cart.checkout.completed", data: ["cartId": "ed12c8bde"]))
let runs = try await stepwise.runs(event: eventID)      // what an event started
if let runID = runs.first?.id {
    let run = try await stepwise.run(id: runID)         // status, output, error
    let steps = try await stepwise.steps(ofRun: runID)  // each step's record
    print(run?.status as Any, steps.map(\.stepID))
}

// Docs/Guides/FunctionsAndSteps.md:304
import StepwiseTesting

let clock = ManualClock()
let testClient = StepwiseClient(id: "test", store: try .inMemory(), configuration: .init(clock: clock))
try testClient.createFunction(id: "send-receipt", trigger: .event("storefront/cart.checkout.completed")) { event, step in
    try await step.run("render-receipt") { try await renderReceipt(cartId: event.data["cartId"]?.stringValue) }
}
try await testClient.send(Event(name: "storefront/cart.checkout.completed", data: ["cartId": "ed12c8bde"]))
try await testClient.worker().runUntilIdle(advancing: clock)
let tested = try await testClient.runs(function: "send-receipt").first
