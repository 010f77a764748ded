import MCPCore
import NIOHTTP1

/// One outbound request to a backend. `path` is already encoded and starts with `/`.
public struct BackendRequest: Sendable {
    public var method: HTTPMethod
    public var url: BackendURL
    public var path: String
    public var query: [(String, String)]
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// Overall deadline: connect, TLS handshake, request and the whole response.
    public var timeout: Duration
    /// The response body is refused (``ToolError/Kind/tooLarge``) beyond this many bytes.
    public var maxResponseBytes: Int
    /// CA bundle for an https backend (nil: the TLS provider's default trust).
    public var caFile: String?

    public init(
        method: HTTPMethod, url: BackendURL, path: String, query: [(String, String)] = [],
        headers: [(String, String)] = [], body: [UInt8]? = nil,
        timeout: Duration = .seconds(30), maxResponseBytes: Int = 4 << 20, caFile: String? = nil
    ) {
        self.caFile = caFile
        self.method = method
        self.url = url
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
    }

    /// The request target: base path, path and encoded query.
    public var target: String {
        let full = url.basePath + path
        return query.isEmpty ? full : full + "?" + PercentEncoding.query(query)
    }
}

/// A complete response. Any status is returned; the caller decides what is an error.
public struct BackendResponse: Sendable {
    public var status: Int
    public var reason: String
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, reason: String, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
}
