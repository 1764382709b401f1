// Generated from Docs/Guides/FlowControl.md by Scripts/doc-snippets.py: edit the page, then run
// python3 Scripts/doc-snippets.py

// Docs/Guides/FlowControl.md:14
import Stepwise

let stepwise = StepwiseClient(id: "acme-storefront-app", store: try .sqlite(path: "stepwise.db"))

/// Your own code: calls a payment provider, an AI API, a CRM.
func charge(_ order: JSON) async throws {}
func summarize(_ document: JSON) async throws -> String { "" }
func syncContacts(_ user: JSON) async throws {}

// Docs/Guides/FlowControl.md:31
try stepwise.createFunction(
    id: "summarize-document", trigger: .event("docs/document.uploaded"),
    options: .init(concurrency: [
        .init(limit: 20),                                   // at most 20 of this function at once
        .init(limit: 2, key: "event.data.workspaceId"),     // and 2 per workspace
    ])
) { event, step in
    _ = try await step.run("summarize") { try await summarize(event.data) }
}

// Docs/Guides/FlowControl.md:50
try stepwise.createFunction(
    id: "enrich-lead", trigger: .event("crm/lead.created"),
    options: .init(concurrency: [.init(limit: 10, key: "'ai-provider'", scope: .environment)])
) { event, step in
    _ = try await step.run("enrich") { try await summarize(event.data) }
}

// Docs/Guides/FlowControl.md:89
try stepwise.createFunction(
    id: "sync-contacts", trigger: .event("crm/user.updated"),
    options: .init(throttle: .init(limit: 1, period: .seconds(10), key: "event.data.userId"))
) { event, step in
    try await step.perform("sync") { try await syncContacts(event.data) }
}

// Docs/Guides/FlowControl.md:112
try stepwise.createFunction(
    id: "send-digest", trigger: .event("app/activity.recorded"),
    options: .init(rateLimit: .init(limit: 1, period: .seconds(3600), key: "event.data.vip ? false : event.data.userId"))
) { event, step in
    try await step.perform("send") { try await syncContacts(event.data) }
}

// Docs/Guides/FlowControl.md:131
try stepwise.createFunction(
    id: "charge-order", trigger: .event("shop/order.placed"),
    options: .init(idempotency: "event.data.orderId")
) { event, step in
    try await step.perform("charge") { try await charge(event.data) }
}

// Docs/Guides/FlowControl.md:152
try stepwise.createFunction(
    id: "render-report", trigger: .event("reports/requested"),
    options: .init(concurrency: [.init(limit: 5)], priority: .init(run: "event.data.plan == 'enterprise' ? 120 : 0"))
) { event, step in
    _ = try await step.run("render") { try await summarize(event.data) }
}

// Docs/Guides/FlowControl.md:170
try stepwise.createFunction(
    id: "reindex-document", trigger: .event("docs/document.edited"),
    options: .init(debounce: .init(period: .seconds(10), key: "event.data.documentId", timeout: .seconds(120)))
) { event, step in
    _ = try await step.run("reindex") { try await summarize(event.data) }
}

// Docs/Guides/FlowControl.md:193
try stepwise.createFunction(
    id: "write-analytics", trigger: .event("app/page.viewed"),
    options: .init(batchEvents: .init(maxSize: 100, timeout: .seconds(5), key: "event.data.siteId"))
) { event, step in
    let rows = step.events.map(\.data)
    try await step.perform("insert-rows") { for row in rows { try await syncContacts(row) } }
}

// Docs/Guides/FlowControl.md:216
try stepwise.createFunction(
    id: "import-account", trigger: .event("crm/import.requested"),
    options: .init(singleton: .init(key: "event.data.accountId", mode: .skip))
) { event, step in
    try await step.perform("import") { try await syncContacts(event.data) }
}

// Docs/Guides/FlowControl.md:233
try stepwise.createFunction(
    id: "review-large-payment", trigger: .event("billing/payment.received", if: "event.data.amount > 10000")
) { event, step in
    try await step.perform("flag") { try await charge(event.data) }
}

// Docs/Guides/FlowControl.md:255
func explain(_ id: EventID) async throws {
    for record in try await stepwise.admissions(of: id) {
        print("\(record.functionID): \(record.reason) (\(record.detail))")
    }
}
