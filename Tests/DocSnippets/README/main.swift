// Generated from README.md by Scripts/doc-snippets.py: edit the page, then run
// python3 Scripts/doc-snippets.py

// README.md:70
import Logging
import ServiceLifecycle
import Stepwise

struct Receipt: Codable, Sendable {
    let id: String
    let cartId: String
}

/// Your own code; here it only makes up a receipt for the cart in the event.
func renderReceipt(for cart: JSON) async throws -> Receipt {
    let cartId = cart["cartId"]?.stringValue ?? "unknown"
    return Receipt(id: "receipt-\(cartId)", cartId: cartId)
}

let logger = Logger(label: "acme-storefront-app")
let stepwise = StepwiseClient(id: "acme-storefront-app", store: try .sqlite(path: ".stepwise/dev.db"), logger: logger)

try stepwise.createFunction(id: "send-receipt", trigger: .event("storefront/cart.checkout.completed")) { event, step in
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
    Event(name: "storefront/cart.checkout.completed", data: ["cartId": "ed12c8bde"],
          id: "cart-checkout-completed-ed12c8bde"),
])

// Typed payloads work too.
struct InvoiceCreated: Codable, Sendable { let invoiceId: String }
try await stepwise.send(Event(name: "app/invoice.created", data: InvoiceCreated(invoiceId: "645e9e02")))

// Run the functions until SIGTERM or SIGINT.
try await ServiceGroup(services: [stepwise.worker()], gracefulShutdownSignals: [.sigterm, .sigint],
                       logger: logger).run()
