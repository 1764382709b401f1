import Foundation
import Stepwise
import StepwiseTesting
import Testing

/// The stores this package ships, each made fresh for one case.
enum ShippedStores: String, CaseIterable, CustomStringConvertible {
    case sqliteFile = "SQLite file"
    case sqliteInMemory = "SQLite in memory"
    case inMemory = "in-memory (StepwiseTesting)"

    var description: String { rawValue }

    var make: StoreConformance.MakeStore {
        switch self {
        case .sqliteFile:
            return {
                let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stepwise-conformance-\(UUID().uuidString)")
                return try SQLiteStore(.init(path: folder.appendingPathComponent("store.db").path))
            }
        case .sqliteInMemory:
            return { try SQLiteStore(.init(path: nil)) }
        case .inMemory:
            return { InMemoryStore() }
        }
    }
}

@Suite("Store conformance")
struct StoreConformanceTests {
    @Test("every shipped store keeps every rule", arguments: ShippedStores.allCases, StoreConformance.cases)
    func conforms(store: ShippedStores, rule: StoreConformance.Case) async throws {
        try await rule.run(store.make)
    }

    @Test("every shipped store keeps every rule of retention and user rewrites", arguments: ShippedStores.allCases,
          StoreConformance.retentionCases + StoreConformance.userRewriteCases)
    func retains(store: ShippedStores, rule: StoreConformance.Case) async throws {
        try await rule.run(store.make)
    }

    @Test("every shipped store keeps every rule of a write that claims", arguments: ShippedStores.allCases,
          StoreConformance.claimingWriteCases)
    func claimsInCheckpoints(store: ShippedStores, rule: StoreConformance.Case) async throws {
        try await rule.run(store.make)
    }
}
