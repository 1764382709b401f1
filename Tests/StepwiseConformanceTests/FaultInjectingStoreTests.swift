import Stepwise
import StepwiseTesting
import Testing

/// FaultInjectingStore is a store written in another module with no `@testable import`: with
/// no fault injected it must keep every rule, as the store it wraps does. Otherwise a test that
/// injects faults through it would be testing the wrapper's own bugs.
@Suite("Fault-injecting store")
struct FaultInjectingStoreTests {
    @Test("with no fault injected, it keeps every rule of the store contract", arguments: StoreConformance.cases)
    func conforms(rule: StoreConformance.Case) async throws {
        try await rule.run { FaultInjectingStore(try SQLiteStore(.init(path: nil))) }
    }

    @Test("an injected failure reaches the caller and stores nothing")
    func injectedFailureStoresNothing() async throws {
        let store = FaultInjectingStore(try SQLiteStore(.init(path: nil)))
        let client = StepwiseClient(id: "faults", store: store)
        store.failNext(1, .append, kind: .permanent)
        await #expect(throws: InjectedStoreFailure.self) { try await client.send(Event(name: "faults/one")) }
        #expect(try await store.events(EventQuery(limit: 10)).events.isEmpty)
        try await client.send(Event(name: "faults/two"))
        #expect(try await store.events(EventQuery(limit: 10)).events.map(\.name) == ["faults/two"])
        #expect(store.calls(.append) == 2)
        #expect(store.injectedFailures(.append) == 1)
    }
}
