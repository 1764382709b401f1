import Testing
@testable import Stepwise
import StepwiseTesting

/// Text the store cannot read back: 300 levels of arrays, past JSON.maximumNestingDepth.
let poisonousJSON = "{\"deep\":" + String(repeating: "[", count: 300) + String(repeating: "]", count: 300) + "}"

@Suite("One unreadable row fails alone")
struct UnreadableRowTests {
    /// Writes `sql` to the store directly, as something other than Stepwise would.
    func tamper(_ store: SQLiteStore, _ sql: String, _ values: SQLiteValue...) async throws {
        let values = values
        _ = try await store.writer.write { connection in
            try connection.query(sql, values) { _ in }
        }
    }

    @Test("a run whose event cannot be read fails alone; every other run is claimed and finishes")
    func unreadableEvent() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let harness = try Harness(store: store)
        try harness.client.createFunction(id: "work", trigger: .event("job")) { event, step in
            try await step.run("only") { event.data["n"] ?? nil }
        }
        let ids = try await harness.client.send((0..<5).map { Event(name: "job", data: ["n": .int(Int64($0))]) })
        try await tamper(store, "UPDATE events SET data = ? WHERE id = ?", .text(poisonousJSON), .text(ids[2].description))

        try await harness.runUntilIdle()
        let runs = try await harness.runs(of: "work")
        #expect(runs.count == 5, "listing runs still works")
        let poisoned = try #require(runs.first { $0.eventID == ids[2] })
        #expect(poisoned.status == .failed)
        #expect(poisoned.error?.name == "Stepwise.UnreadableRun")
        #expect(poisoned.error?.message.contains("nesting deeper than 256 levels") == true, "\(poisoned.error?.message ?? "")")
        #expect(runs.filter { $0.status == .completed }.count == 4)

        // Listing events reports the row beside the page instead of throwing.
        let page = try await harness.client.events(named: "job", limit: 3)
        #expect(page.events.map(\.id) == [ids[4], ids[3]])
        #expect(page.unreadable.map(\.id) == [ids[2].description])
        let next = try await harness.client.events(named: "job", limit: 3, cursor: page.nextCursor)
        #expect(next.events.map(\.id) == [ids[1], ids[0]], "paging goes past the unreadable row")
        // The event alone cannot be read, with an error that says so.
        await #expect(throws: SQLiteStoreError.self) { try await harness.client.event(id: ids[2]) }
    }

    @Test("a run whose recorded step cannot be read fails alone at its next claim; listings still work")
    func unreadableStep() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let harness = try Harness(store: store)
        try harness.client.createFunction(id: "slow", trigger: .event("job")) { event, step in
            let n = try await step.run("first") { event.data["n"] ?? nil }
            try await step.sleep("nap", for: .seconds(60))
            return n
        }
        let ids = try await harness.client.send((0..<3).map { Event(name: "job", data: ["n": .int(Int64($0))]) })
        try await harness.worker.drain()
        let victim = try #require(try await harness.runs(of: "slow").first { $0.eventID == ids[1] })
        try await tamper(
            store, "UPDATE steps SET output = ? WHERE run_id = ? AND key = 'first'", .text(poisonousJSON), .text(victim.id.description))

        let steps = try await harness.client.steps(ofRun: victim.id)
        #expect(steps.first?.output == nil)
        #expect(steps.first?.error?.name == "Stepwise.UnreadableOutput")

        try await harness.runUntilIdle()
        let runs = try await harness.runs(of: "slow")
        #expect(runs.filter { $0.status == .completed }.count == 2)
        let failed = try #require(try await harness.client.run(id: victim.id))
        #expect(failed.status == .failed)
        #expect(failed.error?.name == "Stepwise.UnreadableRun")
    }

    @Test("a run whose output cannot be read is still listed, with an error that says why")
    func unreadableOutput() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let harness = try Harness(store: store)
        try harness.client.createFunction(id: "done", trigger: .event("job")) { event, step in 1 }
        try await harness.client.send([Event(name: "job"), Event(name: "job")])
        try await harness.runUntilIdle()
        let first = try #require(try await harness.runs(of: "done").first)
        try await tamper(store, "UPDATE runs SET output = ? WHERE id = ?", .text(poisonousJSON), .text(first.id.description))
        let runs = try await harness.runs(of: "done")
        #expect(runs.count == 2)
        let listed = try #require(runs.first { $0.id == first.id })
        #expect(listed.output == nil)
        #expect(listed.error?.name == "Stepwise.UnreadableOutput")
    }

    @Test("a cancelOn whose run's event cannot be read still cancels, and the cancelling event is stored")
    func unreadableEventOnCancel() async throws {
        let store = try SQLiteStore(.init(path: nil))
        let harness = try Harness(store: store)
        try harness.client.createFunction(id: "waiting", trigger: .event("job"), options: .init(cancelOn: [.event("stop")])) { event, step in
            try await step.sleep("nap", for: .seconds(60))
        }
        let id = try await harness.client.send(Event(name: "job"))
        try await harness.worker.drain()
        try await tamper(store, "UPDATE events SET data = ? WHERE id = ?", .text(poisonousJSON), .text(id.description))
        try await harness.client.send(Event(name: "stop"))
        #expect(try await harness.onlyRun(of: "waiting").status == .cancelled)
    }
}
