import Stepwise
import StepwisePostgres
import StepwiseTesting
import Testing

/// The store contract on a real PostgreSQL server: every case of the conformance suite, each
/// in a schema of its own.
@Suite("PostgreSQL store conformance", .enabled(if: PostgresTestServer.enabled), .serialized)
struct PostgresConformanceTests {
    @Test("keeps every rule of the store contract", arguments: StoreConformance.cases)
    func conforms(rule: StoreConformance.Case) async throws {
        try await PostgresTestServer.withStore { store in
            try await rule.run { store }
        }
    }

    @Test("keeps every rule of retention and user rewrites", arguments: StoreConformance.retentionCases + StoreConformance.userRewriteCases)
    func retains(rule: StoreConformance.Case) async throws {
        try await PostgresTestServer.withStore { store in
            try await rule.run { store }
        }
    }

    @Test("keeps every rule of a write that claims", arguments: StoreConformance.claimingWriteCases)
    func claimsInWrites(rule: StoreConformance.Case) async throws {
        try await PostgresTestServer.withStore { store in
            try await rule.run { store }
        }
    }
}
