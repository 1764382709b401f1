// Generated from Docs/Guides/SleepsWaitsInvokeAndCancellation.md by Scripts/doc-snippets.py: edit the page, then run
// python3 Scripts/doc-snippets.py

// Docs/Guides/SleepsWaitsInvokeAndCancellation.md:15
import Foundation
import Stepwise

/// Your own code: sends the emails.
struct Mailer: Sendable {
    func welcome(_ user: JSON) async throws {}
    func tips(_ user: JSON) async throws {}
    func nudge(_ user: JSON) async throws {}
}
let mailer = Mailer()
let stepwise = StepwiseClient(id: "acme-storefront-app", store: try .sqlite(path: "stepwise.db"))

try stepwise.createFunction(id: "onboarding-drip", trigger: .event("app/user.signup")) { event, step in
    try await step.perform("send-welcome") { try await mailer.welcome(event.data) }
    try await step.sleep("wait-a-day", for: .seconds(24 * 3600))
    try await step.perform("send-tips") { try await mailer.tips(event.data) }
}

/// Your own code: when a user's trial ends.
func trialEnd(of user: JSON) -> Date { Date(timeIntervalSinceNow: 14 * 86_400) }

try stepwise.createFunction(id: "trial-ending", trigger: .event("billing/trial.started")) { event, step in
    try await step.sleepUntil("until-trial-ends", until: trialEnd(of: event.data))
    try await step.perform("send-last-day-tips") { try await mailer.tips(event.data) }
}

// Docs/Guides/SleepsWaitsInvokeAndCancellation.md:51
try stepwise.createFunction(id: "activation-nudge", trigger: .event("app/user.signup")) { event, step in
    let activation = try await step.waitForEvent("wait-for-activation",
        event: "app/user.activated", timeout: .seconds(3 * 24 * 3600), match: "data.userId")
    if activation == nil {   // timed out
        try await step.perform("send-nudge") { try await mailer.nudge(event.data) }
    }
}

// Docs/Guides/SleepsWaitsInvokeAndCancellation.md:73
try stepwise.createFunction(id: "big-spender", trigger: .event("app/user.signup")) { event, step in
    let order = try await step.waitForEvent("first-big-order", event: "storefront/order.placed",
        timeout: .seconds(7 * 24 * 3600), match: "data.userId", if: "async.data.total >= 100")
    return order?.data["total"] ?? nil
}

// Docs/Guides/SleepsWaitsInvokeAndCancellation.md:93
struct PriceRequest: Codable, Sendable { let sku: String }
struct Quote: Codable, Sendable { let sku: String; let cents: Int }

let pricingFunction = try stepwise.createFunction(id: "price-sku", trigger: .invokeOnly,
                                                  eventData: PriceRequest.self) { event, step in
    Quote(sku: event.data.sku, cents: 1999)
}

try stepwise.createFunction(id: "quote-cart", trigger: .event("storefront/cart.updated")) { event, step in
    let quote = try await step.invoke("price", pricingFunction, data: PriceRequest(sku: "9f08sdh84"), timeout: .seconds(600))
    return quote.cents
}

// Docs/Guides/SleepsWaitsInvokeAndCancellation.md:131
if let runID = try await stepwise.runs(function: "onboarding-drip", status: .sleeping, limit: 1).first?.id {
    try await stepwise.cancelRun(runID)   // false if it had already ended
}

// Docs/Guides/SleepsWaitsInvokeAndCancellation.md:139
try stepwise.createFunction(
    id: "abandoned-cart-reminder",
    trigger: .event("storefront/cart.abandoned"),
    options: .init(cancelOn: [.event("storefront/cart.checkout.completed", match: "data.cartId", timeout: .seconds(86_400))])
) { event, step in
    try await step.sleep("give-them-a-day", for: .seconds(86_400))
    try await step.perform("send-reminder") { try await mailer.nudge(event.data) }
}

// Docs/Guides/SleepsWaitsInvokeAndCancellation.md:156
try stepwise.createFunction(
    id: "trial-reminder",
    trigger: .event("billing/trial.started"),
    options: .init(cancelOn: [.event("billing/plan.changed", match: "data.accountId", if: "async.data.plan != 'free'")])
) { event, step in
    try await step.sleep("until-trial-ends", for: .seconds(14 * 86_400))
    try await step.perform("send-reminder") { try await mailer.nudge(event.data) }
}

// Docs/Guides/SleepsWaitsInvokeAndCancellation.md:177
try stepwise.createFunction(
    id: "charge",
    trigger: .event("billing/invoice.due"),
    options: .init(timeouts: FunctionTimeouts(start: .seconds(60), finish: .seconds(3600)))
) { event, step in
    try await step.run("charge-card") { event.data["amount"]?.intValue ?? 0 }
}

// Docs/Guides/SleepsWaitsInvokeAndCancellation.md:194
try stepwise.createFunction(id: "nightly-report", trigger: .cron("0 2 * * *", timeZone: "Europe/Paris")) { event, step in
    try await step.run("build-report") { "report for \(event.data["scheduled_at"] ?? nil)" }
}

// Docs/Guides/SleepsWaitsInvokeAndCancellation.md:212
struct Users: Sendable { func load(_ id: String) async throws -> String { "Ada" } }
struct Orders: Sendable { func recent(_ id: String) async throws -> [Int] { [1999, 4200] } }
let users = Users()
let orderBook = Orders()

try stepwise.createFunction(id: "weekly-summary", trigger: .event("app/summary.requested")) { event, step in
    let id = event.data["userId"]?.stringValue ?? ""
    async let user = step.run("load-user") { try await users.load(id) }
    async let orders = step.run("load-orders") { try await orderBook.recent(id) }
    let (name, totals) = try await (user, orders)
    return try await step.run("summarize") { "\(name): \(totals.count) orders" }
}
