import Foundation
import Logging
import PostgresNIO
import Stepwise
@testable import StepwisePostgres
import Testing

/// The PostgreSQL server the tests use: `STEPWISE_TEST_POSTGRES_URL`, which `.ci/run` sets
/// after starting a throwaway server. Without it the tests are skipped on a developer's
/// machine, and fail under `CI=true`: CI never goes green by skipping.
enum PostgresTestServer {
    static let url = ProcessInfo.processInfo.environment["STEPWISE_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

    /// Whether the PostgreSQL tests run: a server is named, or CI requires one (and then
    /// ``configuration(schema:)`` fails each test, saying why).
    static var enabled: Bool { url != nil || isCI }

    /// Quiet unless `STEPWISE_TEST_LOG_LEVEL` (`debug`, `info`, …) asks, to see why a test hangs.
    static var logger: Logger {
        var logger = Logger(label: "stepwise.postgres.tests")
        logger.logLevel = ProcessInfo.processInfo.environment["STEPWISE_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }

    /// The server's configuration with a schema of the test's own.
    static func configuration(schema: String = uniqueSchema()) throws -> PostgresStore.Configuration {
        guard let url else {
            throw PostgresTestSetupError(
                message: "CI=true but STEPWISE_TEST_POSTGRES_URL is not set: .ci/run must start PostgreSQL before the tests")
        }
        var configuration = try PostgresStore.Configuration(url: url)
        configuration.schema = schema
        configuration.poolSize = 8
        return configuration
    }

    /// The server's URL with `schema` and `pool_size` set, for a child process
    /// (`StepwiseTestChild … --postgres URL`) that must use the test's schema.
    static func url(schema: String, poolSize: Int, server: String? = nil) throws -> String {
        guard let base = server ?? url else {
            throw PostgresTestSetupError(message: "STEPWISE_TEST_POSTGRES_URL is not set: .ci/run must start PostgreSQL before the tests")
        }
        guard var components = URLComponents(string: base) else {
            throw PostgresTestSetupError(message: "STEPWISE_TEST_POSTGRES_URL '\(base)' is not a URL")
        }
        var items = (components.queryItems ?? []).filter { $0.name != "schema" && $0.name != "pool_size" }
        items.append(URLQueryItem(name: "schema", value: schema))
        items.append(URLQueryItem(name: "pool_size", value: "\(poolSize)"))
        components.queryItems = items
        guard let text = components.string else {
            throw PostgresTestSetupError(message: "STEPWISE_TEST_POSTGRES_URL '\(base)' cannot take a schema")
        }
        return text
    }

    static func uniqueSchema(_ prefix: String = "test") -> String {
        "stepwise_\(prefix)_\(UInt64.random(in: 0...UInt64.max) % 1_000_000_000_000)"
    }

    /// Runs `body` with a started store in a schema of its own, dropped afterwards.
    static func withStore<Result: Sendable>(
        _ configuration: PostgresStore.Configuration? = nil, _ body: @Sendable (PostgresStore) async throws -> Result
    ) async throws -> Result {
        let configuration = try configuration ?? self.configuration()
        let store = try PostgresStore(configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            try await store.waitUntilReady()
            let result: Result
            do {
                result = try await body(store)
            } catch {
                try? await dropSchema(configuration.schema, store: store)
                group.cancelAll()
                throw error
            }
            try await dropSchema(configuration.schema, store: store)
            group.cancelAll()
            return result
        }
    }

    static func dropSchema(_ schema: String, store: PostgresStore) async throws {
        try await store.client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(PostgresIdentifier.quoted(schema)) CASCADE"))
    }
}

struct PostgresTestSetupError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
