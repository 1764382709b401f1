// Generated from Docs/Guides/SendingEvents.md by Scripts/doc-snippets.py: edit the page, then run
// python3 Scripts/doc-snippets.py

// Docs/Guides/SendingEvents.md:16
import Stepwise

let stepwise = StepwiseClient(id: "acme-storefront-app", store: try .sqlite(path: "stepwise.db"))

// Docs/Guides/SendingEvents.md:28
let id = try await stepwise.send(Event(
    name: "storefront/cart.checkout.completed",
    data: [
        "cartId": "ed12c8bde",
        "itemIds": ["9f08sdh84", "sdf098487", "0fnun498n"],
        "account": ["id": 123, "email": "test@example.com"],
    ]))

// Docs/Guides/SendingEvents.md:43
let ids = try await stepwise.send([
    Event(name: "storefront/cart.checkout.completed", data: ["cartId": "ed12c8bde"]),
    Event(name: "storefront/coupon.used", data: ["code": "WELCOME10"]),
    Event(name: "storefront/loyalty.program.joined", data: ["accountId": 123]),
])

// Docs/Guides/SendingEvents.md:67
struct InvoiceCreated: Codable, Sendable { let invoiceId: String }
try await stepwise.send(Event(name: "app/invoice.created", data: InvoiceCreated(invoiceId: "645e9e02")))

// Docs/Guides/SendingEvents.md:109
let roomierClient = StepwiseClient(id: "app", store: try .sqlite(path: "stepwise.db"), configuration: .init(
    limits: EventLimits(maxEventBytes: 1 << 20, maxBatchBytes: 4 << 20, maxBatchCount: 10_000)))

// Docs/Guides/SendingEvents.md:118
try await stepwise.send(Event(
    name: "storefront/cart.checkout.completed",
    data: ["cartId": "ed12c8bde"],
    id: "cart-checkout-completed-ed12c8bde"))

// Docs/Guides/SendingEvents.md:136
import Foundation

struct CartCompleted: Codable, Sendable { let cartId: String }

let event = try await stepwise.event(id: id)          // StoredEvent?
let cart = try event?.decodeData(as: CartCompleted.self)

// Newest first, by name and receive time, a page at a time.
let now = Date()
let startOfDay = Calendar(identifier: .gregorian).startOfDay(for: now)
var cursor: EventCursor?
repeat {
    let page = try await stepwise.events(named: "storefront/cart.checkout.completed",
                                         since: startOfDay, until: now, limit: 100, cursor: cursor)
    for event in page.events { print(event.id, event.receivedDate, event.data) }
    cursor = page.nextCursor
} while cursor != nil

// Docs/Guides/SendingEvents.md:167
for await event in stepwise.subscribe(to: "storefront/*") {
    print(event.name, event.data)
}
