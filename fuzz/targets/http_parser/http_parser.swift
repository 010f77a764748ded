// libFuzzer target: `HTTPRequestParser` (MCPServerKit), the public listener's HTTP/1.1
// request parser, alone: bytes in, parts out.
//
// Input layout: byte 0 picks options, bytes 1-3 where the input is split; the rest is what
// the client sends.
//   bits 0-1  number of split points (0-3), at offsets bytes 1-3 scale over the input
//   bit 2     small caps (a head of 128 bytes, 4 fields), so that
//             inputs of a few hundred bytes reach every cap
//
// Properties beyond "no crash, no ASan report, no hang":
// - the parts and the failure are the same however the input is split (each piece is
//   appended to what the parser left, as the codec does);
// - a message framed by Content-Length has exactly that many body bytes before its end;
// - every head holds a token method, a visible-ASCII target, HTTP/1.0 or 1.1, and field
//   values without CR, LF or NUL; the field section and count are within the caps;
// - after a failure every later call fails;
// - where both read a message, NIOHTTP1's decoder (llhttp, what served before) reads the
//   same method, target and body: the two parsers never disagree about where a message
//   ends or what it carries (the request smuggling property). Each may refuse what the
//   other reads (llhttp knows a fixed list of methods; we refuse bare LF, obs-fold and
//   Content-Length lists), so only the messages both read before either refuses count.

import Foundation
@testable import MCPServerKit
import NIOCore
import NIOEmbedded
import NIOHTTP1

func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("http_parser property violated: \(message())") }
}

/// What the parser produced, comparable across splits.
enum Event: Equatable {
    case head(String)
    case body([UInt8])
    case end(String)
    case failed(HTTPRequestParser.Failure)
}

func parse(_ bytes: [UInt8], splits: [Int], limits: HTTPRequestParser.Limits) -> [Event] {
    var parser = HTTPRequestParser(limits: limits)
    var buffer = ByteBuffer()
    var events: [Event] = []
    var declared: Int?
    var bodyBytes = 0
    var start = 0
    for end in splits + [bytes.count] where end >= start {
        buffer.writeBytes(bytes[start..<end])
        start = end
        do {
            while let part = try parser.next(from: &buffer) {
                switch part {
                case .head(let head):
                    let method = head.method.rawValue
                    check(!method.isEmpty && method.utf8.allSatisfy(HTTPRequestParser.isTokenByte), "method \(method.debugDescription)")
                    check(!head.target.isEmpty && head.target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "target \(head.target.debugDescription)")
                    check(head.minorVersion == 0 || head.minorVersion == 1, "version \(head.minorVersion)")
                    check(head.fields.count + (head.authority == nil ? 0 : 1) <= limits.maxHeaderCount, "field count \(head.fields.count)")
                    for field in head.fields {
                        check(!field.value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 }, "field value \(field.value.debugDescription)")
                    }
                    if case .length(let length) = head.framing { declared = length } else { declared = nil }
                    bodyBytes = 0
                    let fields = head.fields.map { "\($0.name.canonicalName)=\($0.value)" }.joined(separator: "|")
                    events.append(.head("\(method) \(head.target) 1.\(head.minorVersion) \(head.authority ?? "-") \(head.hostCount) \(head.framing) \(fields)"))
                case .body(let body):
                    bodyBytes += body.readableBytes
                    if case .body(let before) = events.last {
                        events[events.count - 1] = .body(before + Array(body.readableBytesView))
                    } else {
                        events.append(.body(Array(body.readableBytesView)))
                    }
                case .end(let trailers):
                    if let declared { check(bodyBytes == declared, "body of \(bodyBytes) bytes for Content-Length \(declared)") }
                    events.append(.end(trailers.map { $0.map { "\($0.name.canonicalName)=\($0.value)" }.joined(separator: "|") } ?? "-"))
                }
            }
        } catch {
            events.append(.failed(error))
            var again = buffer
            do {
                _ = try parser.next(from: &again)
                check(false, "a call after a failure succeeded")
            } catch {}
            return events
        }
    }
    return events
}

/// `FUZZ_TRACE=1`: print how many messages each parser read (to see the differential bite).
let trace = ProcessInfo.processInfo.environment["FUZZ_TRACE"] == "1"

/// A message as both parsers can tell it: method, target, body.
struct Message: Equatable {
    var method: String
    var target: String
    var body: [UInt8] = []
}

/// The whole messages among `events` (ours), up to our first failure.
func messages(_ events: [Event]) -> [Message] {
    var out: [Message] = []
    var current: Message?
    for event in events {
        switch event {
        case .head(let text):
            let words = text.split(separator: " ", maxSplits: 2)
            current = Message(method: String(words[0]), target: String(words[1]))
        case .body(let bytes): current?.body += bytes
        case .end:
            if let current { out.append(current) }
            current = nil
        case .failed: return out
        }
    }
    return out
}

/// The whole messages NIOHTTP1's decoder reads from `bytes`, up to its first error.
func llhttpMessages(_ bytes: [UInt8]) -> [Message] {
    let channel = EmbeddedChannel()
    defer { _ = try? channel.finish() }
    guard (try? channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))) != nil else { return [] }
    var out: [Message] = []
    var current: Message?
    func drain() {
        while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
            switch part {
            case .head(let head): current = Message(method: head.method.rawValue, target: head.uri)
            case .body(let body): current?.body += Array(body.readableBytesView)
            case .end:
                if let current { out.append(current) }
                current = nil
            }
        }
    }
    // An error ends its reading; the messages read before it still count.
    _ = try? channel.writeInbound(ByteBuffer(bytes: bytes))
    drain()
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 4 else { return 0 }
    let options = data[0]
    let bytes = Array(UnsafeBufferPointer(start: data + 4, count: size - 4))
    var limits = HTTPRequestParser.Limits()
    if options & 4 != 0 {
        limits.maxHeaderBytes = 128
        limits.maxHeaderCount = 4
    }
    let count = Int(options & 3)
    let splits = (0..<count).map { Int(data[1 + $0]) * bytes.count / 255 }.sorted()
    let whole = parse(bytes, splits: [], limits: limits)
    let split = parse(bytes, splits: splits, limits: limits)
    check(whole == split, "split at \(splits): \(split) differs from the whole input's \(whole)")
    if options & 4 == 0 {
        let ours = messages(whole)
        let theirs = llhttpMessages(bytes)
        let common = min(ours.count, theirs.count)
        if trace { print("messages: ours \(ours.count), llhttp \(theirs.count)") }
        check(Array(ours.prefix(common)) == Array(theirs.prefix(common)), "llhttp read \(theirs.prefix(common)) where we read \(ours.prefix(common))")
    }
    // One byte at a time: the slowest client.
    if bytes.count <= 512 {
        let single = parse(bytes, splits: Array(0..<bytes.count), limits: limits)
        check(whole == single, "one byte at a time: \(single) differs from the whole input's \(whole)")
    }
    return 0
}

// SwiftPM links an executable target with `--defsym main=http_parser_main` (see
// http_pipeline.swift): this entry point hands control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("http_parser_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return runFuzzerDriver(&argc, &argv) { data, size in
        fuzzTestOneInput(data ?? UnsafePointer(bitPattern: 1)!, size)
    }
}
