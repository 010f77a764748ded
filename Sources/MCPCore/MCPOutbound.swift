/// Where the dispatcher sends the messages it originates (progress and log notifications).
///
/// `relatedTo` names the request a message belongs to, so that Streamable HTTP can put it
/// on that request's own response stream (2025-11-25 basic/transports.mdx: the server MAY
/// send requests and notifications on the POST's SSE stream, and they SHOULD relate to the
/// originating request). stdio just writes the line.
public protocol MCPOutbound: Sendable {
    func send(_ message: JSONValue, relatedTo request: JSONRPCID?) async
}

/// Drops every message: for transports that cannot carry notifications (a plain JSON
/// response, the Go server's `/api/mcp/v1/call`).
public struct DiscardingOutbound: MCPOutbound {
    public init() {}
    public func send(_ message: JSONValue, relatedTo request: JSONRPCID?) async {}
}
