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
        .executable(name: "storefront", targets: ["Storefront"]),
        .executable(name: "stepwise-bench", targets: ["StepwiseBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
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
                .product(name: "Logging", package: "swift-log"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "StepwiseTesting",
            dependencies: ["Stepwise"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "Storefront",
            dependencies: [
                "Stepwise",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/Storefront",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "StepwiseBench",
            dependencies: [
                "Stepwise",
                "CSQLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        // A child process for the tests that kill a real process with SIGKILL.
        .executableTarget(
            name: "StepwiseTestChild",
            dependencies: [
                "Stepwise",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/StepwiseTestChild",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "StepwiseTests",
            dependencies: [
                "Stepwise",
                "StepwiseTesting",
                "StepwiseTestChild",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
