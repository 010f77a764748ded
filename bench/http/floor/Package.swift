// swift-tools-version:6.0
// The request-path floor (bench/http/floor.sh): NIO with our TLS handler answering a static
// body, with and without NIOHTTP1's codec. Its own package so that the server's build and
// tests never compile it.
import PackageDescription

let package = Package(
    name: "floor",
    dependencies: [
        .package(path: "server"),  // a symlink to the repository root: a fixed package identity
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(name: "floor", dependencies: [
            .product(name: "MCPServerModules", package: "server"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
    ]
)
