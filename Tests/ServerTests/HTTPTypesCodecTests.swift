import Foundation
import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Synchronization
import Testing
@testable import MCPServerKit

/// Requests as our codec reads them: the same `HTTPRequest` as NIOHTTP1's decoder with
/// swift-nio-extras' conversion for every origin-form target (RFC 9112 §3.2.1), the path of
/// an absolute-form one (§3.2.2), and a request that cannot be read answered 400 in its turn.
@Suite struct HTTPTypesCodecTests {
    static let heads: [String] = [
        "POST /mcp HTTP/1.1\r\nHost: localhost:8443\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
            + "Authorization: Bearer x\r\nMCP-Protocol-Version: 2026-07-28\r\nContent-Length: 0\r\n\r\n",
        "GET / HTTP/1.1\r\nHOST: a\r\nX-A: 1\r\nx-a: 2\r\n\r\n",
        "DELETE /messages?sessionId=abc&x=%20y HTTP/1.1\r\nhOsT: h\r\n\r\n",
        "GET /sse HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "OPTIONS /a//b/../c HTTP/1.1\r\nHost: h\r\nCookie: a=1; b=2\r\nCookie: c=3\r\n\r\n",
        "PROPFIND /p HTTP/1.1\r\nHost: h\r\nX-Spaces:   padded  \r\nX-Empty:\r\nConnection: keep-alive\r\n\r\n",
        "PURGE /p HTTP/1.1\r\nHostname: not host\r\nHost: h\r\nUser-Agent: t/1\r\nMcp-Session-Id: s\r\n\r\n",
    ]

    /// The head our codec passes up for `raw`.
    static func ours(_ raw: String) throws -> HTTPRequest? {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPTypesCodec(secure: false))
        try channel.writeInbound(ByteBuffer(string: raw))
        guard case .head(let head) = try channel.readInbound(as: HTTPRequestPart.self) else { return nil }
        return head
    }

    /// The head NIOHTTP1's decoder reads from `raw`, converted by swift-nio-extras.
    static func theirs(_ raw: String) throws -> HTTPRequest? {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
        try channel.writeInbound(ByteBuffer(string: raw))
        guard case .head(let head) = try channel.readInbound(as: HTTPServerRequestPart.self) else { return nil }
        return try HTTPRequest(head, secure: false, splitCookie: false)
    }

    @Test("origin-form requests read exactly as NIOHTTP1 and swift-nio-extras read them", arguments: heads)
    func sameAsExtras(_ raw: String) throws {
        let ours = try #require(try Self.ours(raw))
        let theirs = try #require(try Self.theirs(raw))
        #expect(ours == theirs)
        #expect(Array(ours.headerFields) == Array(theirs.headerFields))
    }

    @Test("an absolute-form target's authority wins over Host (RFC 9112 §3.2.2); user info in it is refused (RFC 9110 §4.2.4), and so is one that is empty or not a host (§4.2.1, §7.2)")
    func absoluteFormAuthority() throws {
        let head = try #require(try Self.ours("GET http://a.example/mcp?x=1 HTTP/1.1\r\nHost: b.example\r\n\r\n"))
        #expect(head.authority == "a.example")
        #expect(head.path == "/mcp?x=1")
        #expect(try Self.ours("GET /mcp HTTP/1.1\r\nHost: b.example\r\n\r\n")?.authority == "b.example")
        #expect(try Self.ours("GET http://user@a.example/p HTTP/1.1\r\nHost: a.example\r\n\r\n") == nil)
        #expect(try Self.ours("GET http:///mcp HTTP/1.1\r\nHost: a.example\r\n\r\n") == nil)
        #expect(try Self.ours("GET http://a\"b<c/ HTTP/1.1\r\nHost: a.example\r\n\r\n") == nil)
        #expect(try Self.ours("GET http://[::1]:8443/mcp HTTP/1.1\r\nHost: a.example\r\n\r\n")?.authority == "[::1]:8443")
        #expect(HTTPTypesCodec.authority(of: "https://h:8443") == "h:8443")
        #expect(HTTPTypesCodec.authority(of: "http://[::1]:9/p") == "[::1]:9")
        #expect(HTTPTypesCodec.authority(of: "*") == nil)
        #expect(HTTPTypesCodec.authority(of: "h:443") == nil)
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
    func host(_ name: String, _ isHost: Bool) throws {
        // The parser finds Host among a head's field names; a name that is not a token is no
        // field at all (the head is refused).
        let head = "GET / HTTP/1.1\r\n\(name): h\r\n\r\n"
        let parsed = HTTPRequestParserTests.parse(head)
        if name.utf8.allSatisfy(HTTPRequestParser.isTokenByte), !name.isEmpty {
            let named = Array(name.utf8).withUnsafeBytes { HTTPRequestParser.fieldName($0) }
            #expect((named == HTTPRequestParser.hostName) == isHost)
            guard case .head(_, _, _, let authority, _) = parsed.first else { Issue.record("no head: \(parsed)"); return }
            #expect((authority == "h") == isHost)
        } else {
            #expect(!isHost)
            #expect(parsed.last == .failed(.badRequest))
        }
    }

    @Test("a media type prefix is matched with letters in any case and every other byte exact", arguments: [
        ("application/json", true), ("Application/JSON; charset=utf-8", true), ("APPLICATION/JSON", true),
        ("application\u{0F}json", false), ("application/jso", false), ("", false), ("text/plain", false), ("application-json", false),
    ])
    func mediaTypePrefix(_ value: String, _ matches: Bool) {
        #expect(value.hasPrefixIgnoringASCIICase("application/json") == matches)
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

    /// What `reads` are passed up as, in order: "head", "body N <distinct bytes>", "end", and
    /// "refused STATUS MESSAGE" for a refusal.
    static func parts(of reads: [String]) throws -> [String] {
        final class Recorder: ChannelInboundHandler {
            typealias InboundIn = HTTPRequestPart
            var seen: [String] = []
            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                switch unwrapInboundIn(data) {
                case .head: seen.append("head")
                case .body(let body): seen.append("body \(body.readableBytes) \(String(Set(String(buffer: body))))")
                case .end: seen.append("end")
                }
            }
            func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
                if let refusal = event as? RequestRefusal { seen.append("refused \(refusal.head.status.code) \(refusal.message ?? "")") }
            }
        }
        let channel = EmbeddedChannel()
        let recorder = Recorder()
        try channel.pipeline.syncOperations.addHandler(HTTPTypesCodec(secure: false))
        try channel.pipeline.syncOperations.addHandler(recorder)
        for read in reads { try channel.writeInbound(ByteBuffer(string: read)) }
        return recorder.seen
    }

    static let chunkedHead = "POST /mcp HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"

    @Test("a body in 1-byte chunks (RFC 9112 §7.1) goes up as one part per read, not one per byte")
    func tinyChunksAreMerged() throws {
        let parts = try Self.parts(of: [
            Self.chunkedHead + String(repeating: "1\r\nx\r\n", count: 1000),
            String(repeating: "1;e=1\r\ny\r\n", count: 500) + "2\r\nyy\r\n0\r\n\r\n",
        ])
        #expect(parts == ["head", "body 1000 x", "body 502 y", "end"])
    }

    @Test("small chunks go up in parts of 4 KiB; a chunk of 4 KiB or more goes up as it is, in order")
    func mergedPartsAreBounded() throws {
        let parts = try Self.parts(of: [
            Self.chunkedHead + String(repeating: "1\r\na\r\n", count: 10_000) + "1388\r\n" + String(repeating: "b", count: 5000) + "\r\n"
                + String(repeating: "1\r\nc\r\n", count: 10) + "0\r\n\r\n",
        ])
        #expect(parts == ["head", "body 4096 a", "body 4096 a", "body 1808 a", "body 5000 b", "body 10 c", "end"])
    }

    @Test("the chunks read whole before a malformed one are passed up before the refusal")
    func chunksBeforeAMalformedOneArePassedUp() throws {
        let parts = try Self.parts(of: [Self.chunkedHead + String(repeating: "2\r\nxx\r\n", count: 10) + "zz\r\nxx\r\n"])
        #expect(parts == ["head", "body 20 x", "refused 400 Bad Request: invalid chunk size"])
    }

    @Test("a method that is not a token is refused 400, after the response to the request before it")
    func invalidMethodInTurn() throws {
        let started = RequestDispatcherTests.Started()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPTypesCodec(secure: false))
        try channel.pipeline.syncOperations.addHandler(RequestDispatcher { request, sink in started.record(request, sink) })
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        channel.pipeline.fireChannelRead(ByteBuffer(string: "GET /first HTTP/1.1\r\nHost: h\r\n\r\nNOT@TOKEN / HTTP/1.1\r\nHost: h\r\n\r\n"))
        channel.pipeline.fireChannelReadComplete()
        #expect(started.count == 1)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)  // held behind /first

        started[0].sink.writeComplete(HTTPResponse(status: .ok), body: ByteBuffer(string: "one"))
        channel.embeddedEventLoop.run()  // the responses' ends are flushed by a task on the loop
        var output = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { output += String(buffer: buffer) }
        let statuses = output.components(separatedBy: "\r\n").filter { $0.hasPrefix("HTTP/1.1 ") }.map { $0.split(separator: " ")[1] }
        #expect(statuses == ["200", "400"])
        #expect(started.count == 1)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }
}

/// Our response encoding (RFC 9112 §6: message body length and framing): the same bytes as
/// NIOHTTP1's encoder for every response to GET, a response to HEAD without its body, and a
/// whole response as one buffer.
@Suite struct HTTPTypesCodecResponseTests {
    /// A response as its parts: head, body chunks, trailers.
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let head: HTTPResponse
        var chunks: [String] = []
        var trailers: HTTPFields?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "200 with Content-Length", head: HTTPResponse(status: .ok, headerFields: [.contentType: "application/json", .contentLength: "7"]), chunks: [#"{"a":1}"#]),
        Case(name: "200 streamed (chunked)", head: HTTPResponse(status: .ok, headerFields: [.contentType: "text/event-stream"]), chunks: ["event: a\n\n", "", "data: b\n\n"]),
        Case(name: "chunked with trailers", head: HTTPResponse(status: .ok), chunks: ["x"], trailers: [HTTPField.Name("X-Checksum")!: "1"]),
        Case(name: "Content-Length and Transfer-Encoding: the length wins", head: HTTPResponse(status: .ok, headerFields: [.transferEncoding: "chunked", .contentLength: "2"]), chunks: ["ab"]),
        Case(name: "204 drops framing fields", head: HTTPResponse(status: .noContent, headerFields: [.contentLength: "0", .transferEncoding: "chunked"])),
        Case(name: "304 drops framing fields", head: HTTPResponse(status: .notModified, headerFields: [.contentLength: "12", .eTag: "\"v1\""])),
        Case(name: "202 without a length is chunked", head: HTTPResponse(status: .accepted)),
        Case(name: "401 with an empty body", head: HTTPResponse(status: .unauthorized, headerFields: [.contentLength: "0", .wwwAuthenticate: "Bearer"])),
        Case(name: "repeated fields keep their order", head: HTTPResponse(status: .ok, headerFields: [.setCookie: "a=1", .setCookie: "b=2", .contentLength: "0"])),
        Case(name: "a body of 20 KiB (not coalesced)", head: HTTPResponse(status: .ok, headerFields: [.contentLength: "20480"]), chunks: [String(repeating: "z", count: 20480)]),
        Case(name: "a chunk of 20 KiB", head: HTTPResponse(status: .ok), chunks: [String(repeating: "y", count: 20480)]),
    ]

    /// Our codec's output for `response`, answering a request with `method`, and the buffers it wrote.
    static func ours(_ response: Case, method: HTTPMethod = .GET) throws -> (text: String, buffers: Int) {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPTypesCodec(secure: false))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "\(method.rawValue) / HTTP/1.1\r\nHost: h\r\n\r\n"))
        _ = try channel.readInbound(as: HTTPRequestPart.self)
        channel.write(HTTPResponsePart.head(response.head), promise: nil)
        for chunk in response.chunks { channel.write(HTTPResponsePart.body(ByteBuffer(string: chunk)), promise: nil) }
        let ended = channel.eventLoop.makePromise(of: Void.self)
        channel.write(HTTPResponsePart.end(response.trailers), promise: ended)
        channel.flush()
        try ended.futureResult.wait()
        var text = ""
        var buffers = 0
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: buffer)
            buffers += 1
        }
        return (text, buffers)
    }

    /// NIOHTTP1's encoder, as the codec used it before (through `HTTPResponseHead`).
    static func nio(_ response: Case) throws -> String {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPResponseEncoder())
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(response.head)))
        for chunk in response.chunks { try channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: chunk)))) }
        try channel.writeOutbound(HTTPServerResponsePart.end(response.trailers.map { HTTPHeaders($0) }))
        var text = ""
        while let data = try channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let buffer) = data { text += String(buffer: buffer) }
        }
        return text
    }

    @Test("a response to GET is encoded as NIOHTTP1's encoder encodes it", arguments: cases)
    func sameAsNIO(_ response: Case) throws {
        // NIOHTTP1 spells the field it adds in lowercase; field names are case-insensitive (RFC 9110 §5.1).
        let nio = try Self.nio(response).replacingOccurrences(of: "\r\ntransfer-encoding: ", with: "\r\nTransfer-Encoding: ")
        #expect(try Self.ours(response).text == nio)
    }

    @Test("a reason phrase of our own is kept (NIOHTTP1's conversion replaced it with the standard one)")
    func reasonPhrase() throws {
        let response = Case(name: "401", head: HTTPResponse(status: .init(code: 401, reasonPhrase: "Nope"), headerFields: [.contentLength: "0"]))
        #expect(try Self.ours(response).text == "HTTP/1.1 401 Nope\r\nContent-Length: 0\r\n\r\n")
    }

    @Test("field lines are copied byte for byte: empty, small, long and non-ASCII values, after what the buffer holds")
    func fieldLines() {
        let long = String(repeating: "v", count: 300)
        let fields: HTTPFields = [.contentType: "application/json", .init("X-Empty")!: "", .init("X-Utf8")!: "caf\u{e9} \u{1F600}",
                                  .init("X-Long")!: long, .init("a")!: "b"]
        var buffer = ByteBuffer(string: "HTTP/1.1 200 OK\r\n")
        HTTPTypesCodec.write(fields, to: &buffer)
        let expected = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Empty: \r\nX-Utf8: caf\u{e9} \u{1F600}\r\nX-Long: \(long)\r\na: b\r\n\r\n"
        #expect(String(buffer: buffer) == expected)
        #expect(buffer.readableBytes == expected.utf8.count)
        var empty = ByteBuffer()
        HTTPTypesCodec.write([:], to: &empty)
        #expect(String(buffer: empty) == "\r\n")
    }

    @Test("a whole response of known length leaves as one buffer, sent with its end")
    func wholeResponseIsOneBuffer() throws {
        let (text, buffers) = try Self.ours(Self.cases[0])
        #expect(buffers == 1)
        #expect(text == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}")
        #expect(try Self.ours(Self.cases[9]).buffers == 2)  // the 20 KiB body is not copied next to its head
    }

    @Test("a response to HEAD keeps the GET response's framing fields and has no body (RFC 9110 §9.3.2)")
    func headHasNoBody() throws {
        #expect(try Self.ours(Self.cases[0], method: .HEAD).text == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n")
        #expect(try Self.ours(Self.cases[1], method: .HEAD).text == "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
    }

    @Test("a 2xx to CONNECT has no framing fields and no body; a refusal of CONNECT is framed as usual (RFC 9112 §6.3)")
    func connect() throws {
        #expect(try Self.ours(Self.cases[0], method: .CONNECT).text == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
        let refusal = Case(name: "405", head: HTTPResponse(status: .methodNotAllowed, headerFields: [.contentLength: "2"]), chunks: ["no"])
        #expect(try Self.ours(refusal, method: .CONNECT).text == "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 2\r\n\r\nno")
    }

    @Test("a body written for a response to HEAD fails its promise and writes nothing")
    func headBodyWriteFails() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPTypesCodec(secure: false))
        try channel.writeInbound(ByteBuffer(string: "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"))
        channel.write(HTTPResponsePart.head(HTTPResponse(status: .ok)), promise: nil)
        let body = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(HTTPResponsePart.body(ByteBuffer(string: "x")), promise: body)
        #expect(throws: NIOHTTPResponseEncoderError.responseBodyNotAllowed) { try body.futureResult.wait() }
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        #expect(text == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    }

    @Test("an empty body part writes no bytes, in or after a response, even to HEAD; its promise completes with the writes before it")
    func emptyBodyIsABarrier() throws {
        for method in ["GET", "HEAD"] {
            let channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandler(HTTPTypesCodec(secure: false))
            try channel.writeInbound(ByteBuffer(string: "\(method) / HTTP/1.1\r\nHost: h\r\n\r\n"))
            channel.write(HTTPResponsePart.head(HTTPResponse(status: .ok)), promise: nil)
            let during = channel.eventLoop.makePromise(of: Void.self)
            channel.write(HTTPResponsePart.body(ByteBuffer()), promise: during)
            channel.write(HTTPResponsePart.end(nil), promise: nil)
            let after = channel.eventLoop.makePromise(of: Void.self)
            let done = Mutex(false)
            after.futureResult.whenSuccess { done.withLock { $0 = true } }
            channel.write(HTTPResponsePart.body(ByteBuffer()), promise: after)
            #expect(!done.withLock { $0 })  // nothing written yet: the barrier waits
            channel.flush()
            #expect(done.withLock { $0 })
            try during.futureResult.wait()
            try after.futureResult.wait()
            var text = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            #expect(text == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + (method == "GET" ? "0\r\n\r\n" : ""))
        }
    }

    @Test("pipelined requests: each response is framed for the request it answers, in order")
    func answersInOrder() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPTypesCodec(secure: false))
        for method: HTTPMethod in [.HEAD, .GET] {
            try channel.writeInbound(ByteBuffer(string: "\(method.rawValue) / HTTP/1.1\r\nHost: h\r\n\r\n"))
        }
        for _ in 0..<2 {
            channel.write(HTTPResponsePart.head(HTTPResponse(status: .ok, headerFields: [.contentLength: "1"])), promise: nil)
            channel.write(HTTPResponsePart.body(ByteBuffer(string: "b")), promise: nil)
            try channel.writeOutbound(HTTPResponsePart.end(nil))
        }
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        #expect(text == "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" + "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb")
    }
}
