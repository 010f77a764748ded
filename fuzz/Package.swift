// swift-tools-version:6.2
import Foundation
import PackageDescription

/// The libFuzzer harnesses that need NIO and Hummingbird (issue 7 §1). The other targets are
/// built by fuzz/run.sh with plain swiftc; these need the package graph, so fuzz/run.sh builds
/// this package with `--sanitize=fuzzer --sanitize=address` into fuzz/out/spm.
///
/// libFuzzer supplies `main`: each harness is compiled with `-parse-as-library` and defines
/// only `LLVMFuzzerTestOneInput` (and `LLVMFuzzerInitialize`).

/// A path dependency's identity is its directory name, which differs between checkouts.
let rootIdentity = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let harnessSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .unsafeFlags(["-parse-as-library"]),
]

let package = Package(
    name: "axinova-mcp-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
    ],
    targets: [
        .executableTarget(
            name: "tls_server",
            dependencies: [
                .product(name: "MCPServerModules", package: rootIdentity),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "targets/tls_server",
            swiftSettings: harnessSettings
        ),
        .executableTarget(
            name: "http_parser",
            dependencies: [
                .product(name: "MCPServerModules", package: rootIdentity),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "targets/http_parser",
            swiftSettings: harnessSettings
        ),
        .executableTarget(
            name: "http_pipeline",
            dependencies: [
                .product(name: "MCPServerModules", package: rootIdentity),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
            ],
            path: "targets/http_pipeline",
            swiftSettings: harnessSettings
        ),
    ]
)
