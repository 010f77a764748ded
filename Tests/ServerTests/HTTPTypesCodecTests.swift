import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Testing
@testable import MCPServerKit

/// Our conversion of NIOHTTP1 request heads to HTTPTypes: the same requests as
/// swift-nio-extras' conversion for every origin-form target (RFC 9112 §3.2.1), the path of
/// an absolute-form one (§3.2.2), and a head that cannot be converted answered 400 in its turn.
@Suite struct HTTPTypesCodecTests {
    static let heads: [HTTPRequestHead] = [
        HTTPRequestHead(version: .http1_1, method: .POST, uri: "/mcp", headers: [
            "Host": "localhost:8443", "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
            "Authorization": "Bearer x", "MCP-Protocol-Version": "2026-07-28", "Content-Length": "57"]),
        HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["HOST": "a", "host": "b", "X-A": "1", "x-a": "2"]),
        HTTPRequestHead(version: .http1_1, method: .DELETE, uri: "/messages?sessionId=abc&x=%20y", headers: ["hOsT": "h"]),
        HTTPRequestHead(version: .http1_0, method: .GET, uri: "/sse", headers: [:]),
        HTTPRequestHead(version: .http1_1, method: .OPTIONS, uri: "/a//b/../c", headers: ["Host": "h", "Cookie": "a=1; b=2", "Bad Name": "dropped"]),
        HTTPRequestHead(version: .http1_1, method: .PROPFIND, uri: "/p", headers: ["Host": "h", "X-Spaces": "  padded  ", "X-Empty": ""]),
        HTTPRequestHead(version: .http1_1, method: .RAW(value: "PURGEALL"), uri: "/p", headers: ["Hostname": "not host", "Host": "h"]),
    ]

    @Test("origin-form heads convert exactly as swift-nio-extras converts them", arguments: heads)
    func sameAsExtras(_ head: HTTPRequestHead) throws {
        let ours = try #require(HTTPTypesCodec.request(from: head, scheme: "http"))
        let theirs = try HTTPRequest(head, secure: false, splitCookie: false)
        #expect(ours == theirs)
        #expect(Array(ours.headerFields) == Array(theirs.headerFields))
    }

    @Test("the path of each request-target form (RFC 9112 §3.2)", arguments: [
        ("/a?b=c", "/a?b=c"), ("http://h/p/q?x=1", "/p/q?x=1"), ("https://h:8443", "/"), ("http://h?x=1", "/?x=1"),
        ("http://user@h/p", "/p"), ("*", "*"), ("h:443", "h:443"), ("", ""),
    ])
    func paths(_ target: String, _ path: String) {
        #expect(HTTPTypesCodec.path(of: target) == path)
    }

    @Test("Host is matched in any case and nothing else", arguments: [
        ("Host", true), ("host", true), ("HOST", true), ("hOsT", true), ("Hos", false), ("Hostx", false), ("Hpst", false), ("", false), ("H\u{0}st", false),
    ])
    func host(_ name: String, _ isHost: Bool) {
        #expect(HTTPTypesCodec.isHost(name) == isHost)
    }

    @Test("Connection: close is found in any case, in lists and repeated fields, and nothing like it is (RFC 9112 §9.6)", arguments: [
        (["close"], true), (["Close"], true), (["keep-alive, CLOSE"], true), (["keep-alive", " close "], true), (["upgrade,\tclose"], true),
        (["keep-alive"], false), (["closed"], false), (["clos"], false), (["c lose"], false), (["cl\u{0F}se"], false), ([], false),
    ])
    func connectionClose(_ values: [String], _ closes: Bool) {
        var fields = HTTPFields()
        for value in values { fields.append(HTTPField(name: .connection, value: value)) }
        #expect(RequestDispatcher.asksToClose(fields) == closes)
    }

    @Test("a method that is not a token is refused 400, after the response to the request before it")
    func invalidMethodInTurn() throws {
        let started = RequestDispatcherTests.Started()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPTypesCodec(secure: false))
        try channel.pipeline.syncOperations.addHandler(RequestDispatcher { request, sink in started.record(request, sink) })
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let good = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/first", headers: ["Host": "h"])
        let bad = HTTPRequestHead(version: .http1_1, method: .RAW(value: "NOT A TOKEN"), uri: "/", headers: ["Host": "h"])
        for part: HTTPServerRequestPart in [.head(good), .end(nil), .head(bad), .end(nil)] { channel.pipeline.fireChannelRead(part) }
        channel.pipeline.fireChannelReadComplete()
        #expect(started.count == 1)
        #expect(try channel.readOutbound(as: HTTPServerResponsePart.self) == nil)  // held behind /first

        started[0].sink.writeComplete(HTTPResponse(status: .ok), body: ByteBuffer(string: "one"))
        channel.embeddedEventLoop.run()  // the responses' ends are flushed by a task on the loop
        var statuses: [UInt] = []
        while let part = try channel.readOutbound(as: HTTPServerResponsePart.self) {
            if case .head(let head) = part { statuses.append(head.status.code) }
        }
        #expect(statuses == [200, 400])
        #expect(started.count == 1)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }
}
