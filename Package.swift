// swift-tools-version:6.2
import PackageDescription

// One folder a module; the executables are thin shells over the libraries.
let package = Package(
    name: "changegate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "changegate", targets: ["changegate"]),
        .executable(name: "changegate-snowsim", targets: ["changegate-snowsim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
    ],
    targets: [
        // Shared vocabulary of ServiceNow change requests (states, types, dates).
        .target(name: "ServiceNowModel"),
        .target(
            name: "ServiceNowClient",
            dependencies: [
                "ServiceNowModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "ServiceNowSimulator",
            dependencies: [
                "ServiceNowModel",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Hash-chained audit records: canonical form, chain, verification, export formats.
        .target(name: "AuditTrail", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "QueueStore",
            dependencies: [
                "QueueContract", "AuditTrail",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // The queue on PostgreSQL, behind the same QueueStorage protocol as the SQLite QueueStore.
        .target(
            name: "PostgresQueue",
            dependencies: [
                "QueueStore", "QueueContract", "AuditTrail",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The queue contract's vocabulary: request columns and their validation, limits, states and outcomes.
        .target(name: "QueueContract"),
        .target(name: "StateMachine", dependencies: ["QueueContract", "ServiceNowModel"]),
        .target(name: "Executor", dependencies: [.product(name: "Subprocess", package: "swift-subprocess")]),
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .target(
            name: "Systemd",
            dependencies: [
                "CSystemd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "ChangegateConfig",
            dependencies: ["TOMLKit"]
        ),
        // Push notifications: ServiceNow's signed "this change was updated" posts, verified and handed on.
        .target(
            name: "ChangeWebhook",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .testTarget(name: "ChangeWebhookTests", dependencies: [
            "ChangeWebhook", "TestSupport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(
            name: "Daemon",
            dependencies: [
                "ChangegateConfig", "QueueContract", "QueueStore", "StateMachine", "Executor", "ServiceNowClient", "ServiceNowModel", "Systemd", "AuditTrail",
                "ChangegateMetrics", "ChangeWebhook", "PostgresQueue",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // `changegate doctor`: config, database, network and ServiceNow checks, the latter through the client.
        .target(
            name: "Doctor",
            dependencies: [
                "ChangegateConfig", "Daemon", "PostgresQueue", "QueueStore", "ServiceNowClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Prometheus metrics: the typed facade the daemon reports through, and the `/metrics` endpoint.
        .target(
            name: "ChangegateMetrics",
            dependencies: [
                "QueueContract", "ChangegateConfig",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(name: "ChangegateMetricsTests", dependencies: [
            "ChangegateMetrics", "QueueContract", "QueueStore", "ChangegateConfig",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        .target(
            name: "CLI",
            dependencies: [
                "Daemon", "Doctor", "ChangegateConfig", "QueueContract", "QueueStore", "StateMachine", "Systemd", "AuditTrail",
                "PostgresQueue",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            plugins: ["VersionFile"]
        ),
        // `changegate --version` from the VERSION file, the one the Debian package uses too.
        .plugin(name: "VersionFile", capability: .buildTool()),
        .executableTarget(name: "changegate", dependencies: ["CLI"]),
        .executableTarget(
            name: "changegate-snowsim",
            dependencies: [
                "ServiceNowSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .executableTarget(
            name: "ClientBench",
            dependencies: [
                "ServiceNowClient", "ServiceNowSimulator", "ServiceNowModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Benchmarks/ClientBench"
        ),

        .testTarget(
            name: "ServiceNowClientTests",
            dependencies: [
                "ServiceNowClient", "ServiceNowSimulator", "ServiceNowModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "ServiceNowSimulatorTests", dependencies: [
            "ServiceNowSimulator", "ServiceNowModel", "ChangeWebhook",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "PostgresQueueTests", dependencies: [
            "PostgresQueue", "QueueStore", "QueueContract", "AuditTrail", "TestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "QueueStoreTests", dependencies: ["QueueStore", "QueueContract", "AuditTrail", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        // Helpers shared by test targets (an RFC 4180 reader, sha256sum, spawning without inherited descriptors, PostgreSQL,
        // the trait that keeps blocking tests off the cooperative pool).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "AuditTrailTests", dependencies: ["AuditTrail", "TestSupport"], exclude: ["Golden"]),
        .testTarget(name: "StateMachineTests", dependencies: ["StateMachine", "QueueContract", "ServiceNowModel"]),
        .testTarget(name: "QueueContractTests", dependencies: ["QueueContract"]),
        .testTarget(name: "ExecutorTests", dependencies: ["Executor"]),
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "Daemon", "ChangegateConfig", "QueueContract", "QueueStore", "ServiceNowClient", "ServiceNowModel", "Executor", "Systemd",
                "ChangeWebhook", "AuditTrail", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "SystemdTests", dependencies: ["Systemd", "Daemon", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "ChangegateConfigTests", dependencies: ["ChangegateConfig"]),
        .testTarget(name: "DoctorTests", dependencies: [
            "Doctor", "ServiceNowClient", "ServiceNowSimulator",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
