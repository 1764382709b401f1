import Logging
import Stepwise
import StepwisePostgres

/// The functions the dashboard's browser tests (Tests/Browser) look at, run by a worker process
/// beside `stepwise dev` on the same store:
/// - `checkout` (`shop/checkout`): two steps that take a while each, a short sleep between
///   them, then an event sent: its timeline fills in while the page is open.
/// - `charge` (`shop/charge`): fails at once, retries none: a failed run to rerun.
/// - `approve` (`shop/approval.requested`): waits an hour for `shop/approved`: a run to cancel.
/// - `quote` (`shop/quote.requested`, never sent): one step that prices `data.sku`: a function
///   to invoke from its page.
func runDashboardWorker(client: StepwiseClient, postgres: PostgresStore?, logger: Logger) async throws {
    try client.createFunction(id: "checkout", trigger: .event("shop/checkout")) { event, step in
        let cart = try await step.run("reserve-stock") { () -> String in
            try await Task.sleep(for: .milliseconds(700))
            return event.data["cartId"]?.stringValue ?? "none"
        }
        try await step.sleep("settle", for: .milliseconds(600))
        let receipt = try await step.run("render-receipt") { () -> String in
            try await Task.sleep(for: .milliseconds(700))
            return "receipt-\(cart)"
        }
        try await step.sendEvent("receipt-sent", Event(name: "shop/receipt.sent", data: ["receipt": .string(receipt)]))
        return receipt
    }
    try client.createFunction(id: "charge", trigger: .event("shop/charge"), options: .init(retries: RetryPolicy(retries: 0))) { _, step in
        try await step.run("call-bank") { () -> String in throw NonRetriableError("card declined") }
    }
    try client.createFunction(id: "approve", trigger: .event("shop/approval.requested")) { _, step in
        let approval = try await step.waitForEvent("approval", event: "shop/approved", timeout: .seconds(3600))
        return approval != nil
    }
    try client.createFunction(id: "quote", trigger: .event("shop/quote.requested")) { event, step in
        try await step.run("price") { "quoted \(event.data["sku"]?.stringValue ?? "nothing")" }
    }
    let worker = client.worker(.init(concurrency: 4, leaseDuration: .seconds(5), pollInterval: .milliseconds(50)))
    try await serving([worker], postgres: postgres, logger: logger) {
        try await client.registerFunctions()
        emit("ready")
    }
}
