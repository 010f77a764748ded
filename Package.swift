// swift-tools-version:6.2
import PackageDescription

/// Strict concurrency everywhere (Swift 6 language mode), plus the upcoming features that
/// keep imports honest.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
    name: "axinova-mcp-server",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "axinova-mcp-server", targets: ["axinova-mcp-server"]),
        // For the libFuzzer harnesses in fuzz/Package.swift (a separate package depending on
        // this one by path); nothing else links it.
        .library(name: "MCPServerModules", targets: ["MCPServerKit", "TLS", "MCPCore", "Auth", "RateLimit", "Config"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
    ],
    targets: [
        // System libraries: the only TLS stack and the only YAML parser in the binary.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLibYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        // One C function over the Swift runtime's task allocator (MCPCore's `TaskFrames`).
        .target(name: "CTaskFrames"),

        // Leaf modules: they do not import each other.
        .target(
            name: "TLS",
            dependencies: [
                "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "Auth", dependencies: ["COpenSSL"], swiftSettings: swiftSettings),
        .target(
            name: "RateLimit",
            dependencies: [.product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: swiftSettings
        ),
        .target(name: "Config", dependencies: ["CLibYAML"], swiftSettings: swiftSettings),
        .target(
            name: "MCPCore",
            dependencies: ["CTaskFrames", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),

        // The tool catalogue and its outbound HTTP client (our TLS client role + NIOHTTP1).
        .target(
            name: "Tools",
            dependencies: [
                "MCPCore", "TLS", "RateLimit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // The HTTP application: listeners, transports, middleware, metrics.
        .target(
            name: "MCPServerKit",
            dependencies: [
                "TLS", "Auth", "RateLimit", "Config", "MCPCore", "Tools",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Sources/Server",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "axinova-mcp-server",
            dependencies: [
                "MCPServerKit", "Config", "MCPCore", "Auth", "RateLimit", "Tools", "TLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // One test target per module.
        .testTarget(
            name: "TLSTests",
            dependencies: [
                "TLS", "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "AuthTests", dependencies: ["Auth"], swiftSettings: swiftSettings),
        .testTarget(name: "RateLimitTests", dependencies: ["RateLimit"], swiftSettings: swiftSettings),
        .testTarget(name: "ConfigTests", dependencies: ["Config"], swiftSettings: swiftSettings),
        .testTarget(name: "MCPCoreTests", dependencies: ["MCPCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ToolsTests",
            dependencies: [
                "Tools", "MCPCore", "TLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "ServerTests", dependencies: ["MCPServerKit"], swiftSettings: swiftSettings),
    ]
)
