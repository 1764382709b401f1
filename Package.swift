// swift-tools-version:6.1
import PackageDescription

/// Settings every Stepwise target shares: imports are internal unless a file says
/// `public import`, and every existential is spelled `any`, so that what leaks into the
/// API and what costs a dynamic dispatch are both visible decisions.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Stepwise",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Stepwise", targets: ["Stepwise"]),
        .library(name: "StepwiseTesting", targets: ["StepwiseTesting"]),
        .library(name: "StepwisePostgres", targets: ["StepwisePostgres"]),
        .executable(name: "storefront", targets: ["Storefront"]),
        .library(name: "StepwiseHTTP", targets: ["StepwiseHTTP"]),
        .library(name: "StepwiseEncryption", targets: ["StepwiseEncryption"]),
        .library(name: "StepwiseHTTPClient", targets: ["StepwiseHTTPClient"]),
        .library(name: "StepwiseDashboard", targets: ["StepwiseDashboard"]),
        .executable(name: "stepwise", targets: ["StepwiseCLI"]),
        .executable(name: "stepwise-bench", targets: ["StepwiseBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // The core's instruments are API packages only (Hummingbird depends on both already): an
        // app bootstraps or injects the backend it wants, and without one every metric and span
        // is a no-op.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // `/metrics` in Prometheus's text format, for `stepwise dev` and `serve` (StepwiseHTTP).
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The heavy ones, each used by its own module only (StepwiseHTTP, StepwiseHTTPClient),
        // so that an app embedding the engine alone builds none of them. Hummingbird's
        // default traits would pull in swift-configuration, which nothing here uses.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Hummingbird's own dependency, named here for NIOHTTPTypes: the request and response
        // parts the connection guard (StepwiseHTTP) watches between the codec and the routes.
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        // The PostgreSQL store's driver, used by StepwisePostgres alone.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // postgres-nio's own, named for the TLS context of the PostgreSQL store's probe connection.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite3"])]
        ),
        .target(
            name: "Stepwise",
            dependencies: [
                "CSQLite",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strictSettings
        ),
        // The PostgreSQL store, for apps that run on many hosts: its own module, so that an
        // app on SQLite builds no postgres-nio.
        .target(
            name: "StepwisePostgres",
            dependencies: [
                "Stepwise",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // AES-GCM over events' `user` (swift-crypto): its own module, so that `import Stepwise`
        // builds no cryptography for an app that stores no `user`.
        .target(
            name: "StepwiseEncryption",
            dependencies: ["Stepwise", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "StepwiseTesting",
            dependencies: [
                "Stepwise", .product(name: "Logging", package: "swift-log"),
                // The conformance suite stores events sent under a recording tracer.
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "Storefront",
            dependencies: [
                "Stepwise",
                "StepwisePostgres",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/Storefront",
            swiftSettings: strictSettings
        ),
        // The Event API (Inngest's wire format) and the REST API, on Hummingbird: mounted in an
        // app's own router, or served by the `stepwise` tool.
        .target(
            name: "StepwiseHTTP",
            dependencies: [
                "Stepwise",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        // The dashboard: server-rendered pages over the same reads as the REST API, beside it on
        // the same Hummingbird router. No web dependency beyond Hummingbird: its stylesheet and
        // script are Swift string constants, so nothing is fetched at run time.
        .target(
            name: "StepwiseDashboard",
            dependencies: [
                "Stepwise",
                "StepwiseHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // Sending events to an Event API elsewhere (a Stepwise server, or Inngest).
        .target(
            name: "StepwiseHTTPClient",
            dependencies: [
                "Stepwise",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The `stepwise` tool, where DESIGN.md's layout puts it.
        .executableTarget(
            name: "StepwiseCLI",
            dependencies: [
                "Stepwise",
                "StepwiseHTTP",
                "StepwiseHTTPClient",
                "StepwiseDashboard",
                "StepwisePostgres",
                "StepwiseEncryption",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // A TCP probe of a PostgreSQL server before its pool is started (StoreStartup).
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Sources/stepwise",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "StepwiseBench",
            dependencies: [
                "Stepwise",
                "StepwiseEncryption",
                "StepwisePostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                "StepwiseHTTP",
                "StepwiseHTTPClient",
                "StepwiseDashboard",
                "CSQLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // observability_overhead: a real metrics backend and a tracer that records.
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // A child process for the tests that kill a real process with SIGKILL, on SQLite or
        // (`--postgres URL`) on PostgreSQL.
        .executableTarget(
            name: "StepwiseTestChild",
            dependencies: [
                "Stepwise",
                "StepwisePostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/StepwiseTestChild",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "StepwiseTests",
            dependencies: [
                "Stepwise",
                "StepwiseEncryption",
                "StepwisePostgres",
                "StepwiseTesting",
                "StepwiseTestChild",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                // Injected, never bootstrapped: the metrics and the spans of one test's client.
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strictSettings
        ),
        // The store conformance suite (in StepwiseTesting) against every store this package
        // ships; a store in another package runs the same cases.
        .testTarget(
            name: "StepwiseConformanceTests",
            dependencies: ["Stepwise", "StepwiseTesting"],
            swiftSettings: strictSettings
        ),
        // The PostgreSQL store against a real server (STEPWISE_TEST_POSTGRES_URL; `.ci/run`
        // starts one): the conformance suite, migrations, faults, and worker processes
        // (StepwiseTestChild) killed and stopped on one database.
        .testTarget(
            name: "StepwisePostgresTests",
            dependencies: [
                "Stepwise",
                "StepwiseEncryption",
                "StepwiseTesting",
                "StepwisePostgres",
                "StepwiseTestChild",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The dashboard's pages through Hummingbird's test client (no sockets): HTML, status
        // codes, escaping, the CSRF and login checks. The browser tests (Tests/Browser, run by
        // `.ci/run`) drive the real `stepwise dev` and a worker process with chromium.
        .testTarget(
            name: "StepwiseDashboardTests",
            dependencies: [
                "Stepwise",
                "StepwiseTesting",
                "StepwiseHTTP",
                "StepwiseDashboard",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "StepwiseHTTPTests",
            dependencies: [
                "Stepwise",
                "StepwiseTesting",
                "StepwiseHTTP",
                "StepwiseHTTPClient",
                "StepwiseCLI",
                "StepwiseTestChild",
                // The `stepwise --postgres` tests run a worker on the same database in process.
                "StepwisePostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                // `/metrics` through the router alone, no socket.
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The Swift code blocks of README.md and Docs/, one program per page, copied by
// Scripts/doc-snippets.py (whose --check in .ci/run fails when a copy is stale) and compiled
// here, so that every block compiles as pasted into a user's main.swift. Never run.
let documentedPages = [
    "README", "SendingEvents", "FunctionsAndSteps", "SleepsWaitsInvokeAndCancellation", "EventAPIAndCLI", "RunningOnPostgreSQL",
    "FlowControl", "Dashboard", "Operations",
]
package.targets += documentedPages.map { page in
    .executableTarget(
        name: "DocSnippets\(page)",
        dependencies: [
            "Stepwise",
            "StepwiseTesting",
            "StepwiseHTTP",
            "StepwiseHTTPClient",
            "StepwiseDashboard",
            "StepwisePostgres",
            "StepwiseEncryption",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        // Compiled as a user's own package would be: Swift 6, no upcoming features.
        path: "Tests/DocSnippets/\(page)"
    )
}
