import Testing
@testable import Stepwise
import StepwiseTesting

/// The store's dedupe rules (across batches and names, within a batch, the window, per
/// environment, racing appends) are cases of the store conformance suite; what the client
/// adds on top is tested here.
@Suite("Deduplication")
struct DedupeTests {
    let checkout = Event(name: "storefront/cart.checkout.completed", data: ["cartId": "ed12c8bde"], id: "cart-checkout-completed-ed12c8bde")

    @Test("a duplicate is not published on the bus")
    func duplicatesNotPublished() async throws {
        let client = try makeClient()
        let subscription = client.subscribe()
        let first = try await client.send(checkout)
        _ = try await client.send(checkout)
        let marker = try await client.send(Event(name: "marker"))
        var received: [EventID] = []
        for await event in subscription {
            received.append(event.id)
            if event.id == marker { break }
        }
        #expect(received == [first, marker])
    }
}
