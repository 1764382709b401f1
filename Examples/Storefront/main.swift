// The storefront example: a worker process for an online store.
//
//     swift run storefront [--serve] [path/to/database.db]   (default: .stepwise/dev.db)
//     swift run storefront [--serve] --postgres postgres://user@host:5432/db?schema=stepwise
//
// It defines the store's background functions, starts a worker, sends the events of
// Inngest's "Sending events" page, and prints what happens: one checkout fans out to three
// functions, one of them sends an event (exactly once) that triggers a fourth, and one fails
// once and is retried. It exits when every run is done; with --serve it keeps serving until
// Ctrl-C, and `stepwise send` (or any process on the same file) can feed it events.
//
// With --postgres it runs on a PostgreSQL server instead, as every host of a deployment
// would: the same functions and events, with `stepwise --postgres URL` to look at them.

import Foundation
import Logging
import ServiceLifecycle
import Stepwise
import StepwisePostgres
import Synchronization

/// The data of a checkout event; the functions below receive it decoded.
struct CartCompleted: Codable, Sendable {
    let cartId: String
    let itemIds: [String]
}

struct Receipt: Codable, Sendable {
    let cartId: String
    let itemCount: Int
    let text: String
}

var arguments = Array(CommandLine.arguments.dropFirst())
let serve = arguments.contains("--serve")
arguments.removeAll { $0 == "--serve" }
var postgresURL: String?
if let flag = arguments.firstIndex(of: "--postgres") {
    guard arguments.indices.contains(flag + 1) else {
        FileHandle.standardError.write(Data("storefront: --postgres needs a URL, such as postgres://user@127.0.0.1:5432/db\n".utf8))
        exit(64)
    }
    postgresURL = arguments[flag + 1]
    arguments.removeSubrange(flag...(flag + 1))
}

var logger = Logger(label: "storefront")
logger.logLevel = .warning

/// The store, and the one that must run as a service first (PostgreSQL's pool), if any.
let store: any Store
let storeService: PostgresStore?
if let postgresURL {
    do {
        let postgres = try PostgresStore(try PostgresStore.Configuration(url: postgresURL), logger: logger)
        print("storefront: database \(postgres.configuration.serverDescription), schema \(postgres.configuration.schema)")
        store = postgres
        storeService = postgres
    } catch {
        FileHandle.standardError.write(Data("storefront: \(error)\n".utf8))
        exit(64)
    }
} else {
    // The file `stepwise dev` and the other `stepwise` commands use when given no --db, so
    // that `stepwise runs list` shows what this example did.
    let path = arguments.first ?? ".stepwise/dev.db"
    print("storefront: database \(path)")
    store = try SQLiteStore.sqlite(path: path)
    storeService = nil
}
let stepwise = StepwiseClient(id: "acme-storefront-app", store: store, logger: logger)
let quickRetries = RetryPolicy(retries: 3, backoff: .constant(.milliseconds(300)))

// 1. Fan-out: three functions triggered by the same event.
try stepwise.createFunction(id: "send-receipt", trigger: .event("storefront/cart.checkout.completed"),
                            eventData: CartCompleted.self) { event, step in
    let receipt = try await step.run("render-receipt") { () -> Receipt in
        let items = event.data.itemIds.count
        print("  [send-receipt] rendering the receipt for cart \(event.data.cartId)")
        return Receipt(cartId: event.data.cartId, itemCount: items, text: "Thanks for your \(items) items!")
    }
    // Emitted exactly once, however often this run is retried or replayed.
    try await step.sendEvent("receipt-rendered", Event(name: "storefront/receipt.rendered", data: receipt))
    return receipt
}

try stepwise.createFunction(id: "update-inventory", trigger: .event("storefront/cart.checkout.completed"),
                            eventData: CartCompleted.self) { event, step in
    let count = try await step.run("reserve-items") { () -> Int in
        print("  [update-inventory] reserving \(event.data.itemIds.count) items")
        return event.data.itemIds.count
    }
    return ["reserved": count]
}

let pointsServiceCalls = Mutex(0)
try stepwise.createFunction(id: "award-loyalty-points", trigger: .event("storefront/cart.checkout.completed"),
                            options: .init(name: "Award loyalty points", retries: quickRetries)) { event, step in
    try await step.run("award-points") { () -> Int in
        let call = pointsServiceCalls.withLock { $0 += 1; return $0 }
        if call == 1 {
            print("  [award-loyalty-points] the points service is down; this step will be retried")
            throw URLError(.cannotConnectToHost)
        }
        print("  [award-loyalty-points] awarded 10 points (attempt \(call))")
        return 10
    }
}

// 2. Triggered by the event send-receipt emitted.
try stepwise.createFunction(id: "email-receipt", trigger: .event("storefront/receipt.rendered"), eventData: Receipt.self) { event, step in
    // A step for its side effect alone: `perform`, since `run` records a `Codable` result.
    try await step.perform("send-email") {
        print("  [email-receipt] emailing: \(event.data.text)")
    }
}

// Print every run as it ends: the system events are published on the bus after commit.
let outcomes = stepwise.subscribe(to: "stepwise/*")
let printer = Task {
    for await event in outcomes {
        let function = event.data["function_id"]?.stringValue ?? "?"
        if event.name == SystemEvent.functionFinished {
            print("✓ \(function) finished: \(event.data["output"] ?? nil)")
        } else if event.name == SystemEvent.functionFailed {
            print("✗ \(function) failed: \(event.data["error"]?["message"] ?? nil)")
        }
    }
}

/// Whether any run of this example's functions is still queued (perhaps waiting for a retry)
/// or running. Other apps' runs on the same file are theirs to finish.
func hasUnfinishedRuns() async throws -> Bool {
    for function in ["send-receipt", "update-inventory", "award-loyalty-points", "email-receipt"] {
        for status in [RunStatus.queued, .running] where try await !stepwise.runs(function: function, status: status, limit: 1).isEmpty {
            return true
        }
    }
    return false
}

let worker = stepwise.worker(.init(pollInterval: .milliseconds(200)))
// The store first: a group stops its services in reverse order, so the pool outlives the worker.
var serviceList: [any Service] = []
if let storeService { serviceList.append(storeService) }
serviceList.append(worker)
let services = ServiceGroup(services: serviceList, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)

let demo = Task {
    // The group starts the store beside this task; nothing is stored before it is open.
    try await storeService?.waitUntilReady()
    try await stepwise.registerFunctions()

    print("sending storefront/cart.checkout.completed")
    let checkout = try await stepwise.send(Event(
        name: "storefront/cart.checkout.completed",
        data: [
            "cartId": "ed12c8bde",
            "itemIds": ["9f08sdh84", "sdf098487", "0fnun498n"],
            "account": ["id": 123, "email": "test@example.com"],
        ]))
    let runs = try await stepwise.runs(event: checkout)
    print("  event \(checkout) created \(runs.count) runs: \(runs.map(\.functionID).sorted().joined(separator: ", "))")

    // A batch is stored whole or not at all; an invalid one is refused with the field named.
    let batch = try await stepwise.send([
        Event(name: "storefront/coupon.used", data: ["code": "WELCOME10"]),
        Event(name: "storefront/loyalty.program.joined", data: ["accountId": 123]),
    ])
    print("sent a batch -> \(batch.map(\.description).joined(separator: ", "))")
    do {
        try await stepwise.send([Event(name: "storefront/item.imported", data: ["itemId": "9f08sdh84"]), Event(name: "", data: [:])])
    } catch let error as EventValidationError {
        print("refused an invalid batch: \(error)")
    }

    // Deduplication: the same id within 24 hours is answered with the first event's id.
    let dedupe = Event(name: "storefront/newsletter.subscribed", data: ["email": "test@example.com"], id: "newsletter-subscribed-123")
    let first = try await stepwise.send(dedupe)
    let second = try await stepwise.send(dedupe)
    print("sent a deduplicated event twice -> \(first), then \(second)")

    if serve {
        print("serving until Ctrl-C")
        return
    }
    // Wait for every run to end, then stop the worker.
    while try await hasUnfinishedRuns() {
        try await Task.sleep(for: .milliseconds(100))
    }
    try await Task.sleep(for: .milliseconds(100))  // let the printer catch up
    print("all runs done")
    await services.triggerGracefulShutdown()
}

do {
    try await services.run()
    try await demo.value
} catch {
    // A server that cannot be reached, say: said in words, with a non-zero exit.
    FileHandle.standardError.write(Data("storefront: \(error)\n".utf8))
    exit(1)
}
printer.cancel()
