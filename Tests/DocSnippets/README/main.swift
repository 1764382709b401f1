// Generated from README.md by Scripts/doc-snippets.py: edit the page, then run
// python3 Scripts/doc-snippets.py

// README.md:73
import Logging
import ServiceLifecycle
import Stepwise

struct Receipt: Codable, Sendable {
    let id: String
    let cartId: String
}

/// The data of a checkout event, as the function reads it.
struct CartCompleted: Codable, Sendable {
    let cartId: String
    let itemIds: [String]
}

/// Your own code; here it only makes up a receipt for the cart in the event.
func renderReceipt(for cart: CartCompleted) async throws -> Receipt {
    Receipt(id: "receipt-\(cart.cartId)", cartId: cart.cartId)
}

let logger = Logger(label: "acme-storefront-app")
let stepwise = StepwiseClient(id: "acme-storefront-app", store: try .sqlite(path: ".stepwise/dev.db"), logger: logger)

// The event's data arrives decoded; data that does not decode fails the run at once, naming the field.
try stepwise.createFunction(id: "send-receipt", trigger: .event("storefront/cart.checkout.completed"),
                            eventData: CartCompleted.self, options: .init(retries: RetryPolicy(retries: 3))) { event, step in
    let receipt = try await step.run("render-receipt") { try await renderReceipt(for: event.data) }
    try await step.sendEvent("receipt-rendered",
        Event(name: "storefront/receipt.rendered", data: ["cartId": .string(receipt.cartId)]))
    return receipt.id
}

// One event; `send` returns once it is durably stored.
let id = try await stepwise.send(Event(
    name: "storefront/cart.checkout.completed",
    data: ["cartId": "ed12c8bde", "itemIds": ["9f08sdh84", "sdf098487", "0fnun498n"]]))

// A batch is stored whole or not at all; a repeated `id` within 24 hours is ignored.
let ids = try await stepwise.send([
    Event(name: "storefront/coupon.used", data: ["code": "WELCOME10"]),
    Event(name: "storefront/cart.checkout.completed", data: ["cartId": "ed12c8bde", "itemIds": ["9f08sdh84"]],
          id: "cart-checkout-completed-ed12c8bde"),
])

// Typed payloads work too.
struct InvoiceCreated: Codable, Sendable { let invoiceId: String }
try await stepwise.send(Event(name: "app/invoice.created", data: InvoiceCreated(invoiceId: "645e9e02")))

// Run the functions until SIGTERM or SIGINT.
try await ServiceGroup(services: [stepwise.worker()], gracefulShutdownSignals: [.sigterm, .sigint],
                       logger: logger).run()
