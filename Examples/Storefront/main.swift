// The storefront example: the events of Inngest's "Sending events" page, sent through
// Stepwise into a SQLite file, published on the in-process bus, and read back.
//
//     swift run storefront [path/to/storefront.db]
//
// Run it twice: the deduplicated checkout event answers with the id it got the first time.

import Foundation
import Stepwise

struct InvoiceCreated: Codable, Sendable {
    let invoiceId: String
}

let path = CommandLine.arguments.dropFirst().first ?? ".stepwise/storefront.db"
try FileManager.default.createDirectory(
    at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)

let stepwise = StepwiseClient(id: "acme-storefront-app", store: try .sqlite(path: path))

// Everything under storefront/ that this process stores is published here after commit.
let subscription = stepwise.subscribe(to: "storefront/*")
let listener = Task {
    var seen: [String] = []
    for await event in subscription {
        seen.append("\(event.name) \(event.id)")
        if seen.count == 4 { break }
    }
    return seen
}

// One event, with nested data.
let checkoutID = try await stepwise.send(Event(
    name: "storefront/cart.checkout.completed",
    data: [
        "cartId": "ed12c8bde",
        "itemIds": ["9f08sdh84", "sdf098487", "0fnun498n"],
        "account": ["id": 123, "email": "test@example.com"],
    ]
))
print("sent storefront/cart.checkout.completed -> \(checkoutID)")

// A batch: stored together, or not at all.
let batchIDs = try await stepwise.send([
    Event(name: "storefront/cart.checkout.completed", data: ["cartId": "a81c2e0f1"]),
    Event(name: "storefront/coupon.used", data: ["code": "WELCOME10"]),
    Event(name: "storefront/loyalty.program.joined", data: ["accountId": 123]),
])
print("sent a batch of 3 -> \(batchIDs.map(\.description).joined(separator: ", "))")

// Typed payloads work as well as JSON literals.
let invoiceIDs = try await stepwise.send([
    Event(name: "app/invoice.created", data: InvoiceCreated(invoiceId: "645e9e024befa68763f5b500")),
    Event(name: "app/invoice.created", data: InvoiceCreated(invoiceId: "645e9e08f29fb563c972b1f7")),
])
print("sent 2 typed invoice events -> \(invoiceIDs.map(\.description).joined(separator: ", "))")

// Deduplication: the same id within 24 hours is ignored and answered with the first event's id.
let dedupe = Event(
    name: "storefront/cart.checkout.completed",
    data: ["cartId": "ed12c8bde"],
    id: "cart-checkout-completed-ed12c8bde"
)
let first = try await stepwise.send(dedupe)
let second = try await stepwise.send(dedupe)
print("sent a deduplicated event twice -> \(first), then \(second) (\(first == second ? "same id: stored once" : "different ids!"))")

// An invalid batch is refused whole, with the event and field named.
do {
    try await stepwise.send([
        Event(name: "storefront/item.imported", data: ["itemId": "9f08sdh84"]),
        Event(name: "stepwise/function.finished", data: [:]),
    ])
} catch let error as EventValidationError {
    print("refused an invalid batch: \(error)")
}

// Read back what was stored.
if let stored = try await stepwise.event(id: checkoutID) {
    print("read back \(stored.id): \(stored.name) \(stored.data)")
}
let page = try await stepwise.events(named: "storefront/cart.checkout.completed", limit: 5)
print("newest storefront/cart.checkout.completed events:")
for event in page.events {
    print("  \(event.id)  \(event.data)")
}
let invoice = try await stepwise.event(id: invoiceIDs[0])?.decodeData(as: InvoiceCreated.self)
print("decoded a typed payload: invoiceId \(invoice?.invoiceId ?? "?")")

print("the bus delivered:")
for line in await listener.value {
    print("  \(line)")
}
