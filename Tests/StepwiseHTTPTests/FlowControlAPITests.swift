import Foundation
import Testing
@testable import Stepwise
@testable import StepwiseHTTP
import StepwiseTesting

@Suite("Flow control over HTTP")
struct FlowControlAPITests {
    @Test("events sent over HTTP to a server that holds no handlers get their keys, their if and their limits (spec X2); the REST API says why")
    func eventsOverHTTP() async throws {
        let store = try SQLiteStore(.init(path: nil))
        // The worker's app registers the functions; the server's client holds none of them.
        let worker = try makeClient(store: store)
        try worker.createFunction(
            id: "per-account", trigger: .event("job"),
            options: .init(concurrency: [.init(limit: 1, key: "event.data.account")], priority: .init(run: "event.data.vip ? 60 : 0"))
        ) { _, _ in }
        try worker.createFunction(id: "large", trigger: .event("job", if: "event.data.amount > 100")) { _, _ in }
        try await worker.registerFunctions()
        let server = StepwiseClient(id: "api", store: store, logger: quietLogger())
        try await withAPIServer(client: server, configuration: development) { url in
            let sent = try await post(
                "\(url)/e/dev", #"[{"name": "job", "data": {"account": "acme", "amount": 50}}, {"name": "job", "data": {"account": "acme", "vip": true, "amount": 500}}]"#)
            #expect(sent.ids.count == 2)
            let runs = try await store.runs(RunQuery(functionID: "per-account", limit: 10)).sorted { $0.id < $1.id }
            #expect(runs.map { $0.flow.concurrency.first?.value } == ["acme", "acme"])
            #expect(runs.map(\.flow.prioritySeconds) == [0, 60])
            #expect(try await store.runs(RunQuery(functionID: "large", limit: 10)).count == 1)

            let filtered = try await get("\(url)/v1/events/\(sent.ids[0])/admissions")
            let admissions = try #require(filtered.json?["data"]?.arrayValue)
            #expect(admissions.count == 1)
            #expect(admissions.first?["function_id"] == "large" && admissions.first?["reason"] == "filtered")

            let claimed = try await store.claim(ClaimRequest(
                appID: "test-app", functionIDs: ["per-account"], owner: "w", now: SystemWallClock().now(), leaseDuration: 60_000, limit: 10))
            #expect(claimed.count == 1)
            let parked = try #require(runs.first { $0.id != claimed.first?.run.id })
            let answer = try await get("\(url)/v1/runs/\(parked.id)")
            let blocked = try #require(answer.json?["data"]?["blocked_by"])
            #expect(blocked["kind"] == "concurrency" && blocked["key"] == "acme" && blocked["limit"] == 1)
            #expect(blocked["held_by"] == .array([.string(claimed[0].run.id.description)]))
            #expect(answer.json?["data"]?["flow"]?["concurrency"]?[0]?["key"] == "acme")
            let running = try await get("\(url)/v1/runs/\(claimed[0].run.id)")
            #expect(running.json?["data"]?["blocked_by"] == .null, "an executing run is not blocked")
        }
    }
}
