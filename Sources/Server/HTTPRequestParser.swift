import HTTPTypes
import NIOCore

/// Reads HTTP/1.1 requests (RFC 9112) from a connection's bytes, straight into HTTPTypes.
///
/// Why our own: NIOHTTP1's decoder (llhttp) builds each head as `HTTPHeaders`, strings
/// copied field by field behind an exclusivity check per callback, and the codec then
/// copied every field again into `HTTPFields`: 8 % of a `tools/call`'s CPU together
/// (`perf`, 2026-12-01). Here each field line is checked and becomes an `HTTPField` once.
///
/// Strict where leniency lets two parsers disagree about where a message ends (request
/// smuggling, RFC 9112 §11.2): a line must end in CRLF (no bare LF), no obs-fold (§5.2),
/// no whitespace between a field name and its colon (§5.1), no control characters in a
/// value, Content-Length only as one decimal value, Transfer-Encoding only ending in one
/// `chunked`, never both (§6.1, §6.3). A head (request line and fields) must fit in
/// `max_header_bytes`, as with llhttp before: a request line that alone does not is 414,
/// any other head over the cap 431; trailers have the same caps as a head's fields.
///
/// A pure state machine over a cumulated buffer: ``next(from:)`` returns one part at a
/// time and consumes exactly its bytes, or returns nil and keeps what it has not used yet.
/// An incomplete head is searched once, not again at every read.
struct HTTPRequestParser {
    struct Limits: Sendable, Hashable {
        /// Bytes of a head (its lines with their CRLFs, and the empty line), and of trailers.
        var maxHeaderBytes = 16 * 1024
        var maxHeaderCount = 100
    }

    /// How a request's body is framed (RFC 9112 §6.3), or why its framing is refused.
    enum Framing: Equatable {
        case length(Int)
        case chunked
        /// Refused with this status (400, or 501 for a transfer coding not supported), saying why.
        case invalid(HTTPResponse.Status, String)
    }

    /// A request head. The first `Host` is the `authority` and not among the `fields` (as
    /// HTTP/2's `:authority` would be); `hostCount` counts every Host line.
    struct Head {
        var method: HTTPRequest.Method
        var target: String
        /// 0 or 1: HTTP/1.0 or HTTP/1.1.
        var minorVersion: Int
        var authority: String?
        var hostCount: Int
        var fields: HTTPFields
        var framing: Framing
    }

    enum Part {
        case head(Head)
        case body(ByteBuffer)
        case end(HTTPFields?)
    }

    /// Why bytes are not a request; each maps to the status that answers it.
    enum Failure: Error, Equatable {
        /// 400, saying why.
        case malformed(String)
        /// 414
        case requestLineTooLong
        /// 431: a head or trailers over the byte or count cap.
        case fieldsTooLarge
        /// 505: a well-formed version other than HTTP/1.x.
        case versionNotSupported

        var status: HTTPResponse.Status {
            switch self {
            case .malformed: .badRequest
            case .requestLineTooLong: .uriTooLong
            case .fieldsTooLarge: .requestHeaderFieldsTooLarge
            case .versionNotSupported: .httpVersionNotSupported
            }
        }

        var reason: String {
            switch self {
            case .malformed(let why): "Bad Request: \(why)"
            case .requestLineTooLong: "URI Too Long: the request line is over the server's head cap"
            case .fieldsTooLarge: "Request Header Fields Too Large"
            case .versionNotSupported: "HTTP Version Not Supported: this server speaks HTTP/1.1"
            }
        }
    }

    private enum State: Equatable {
        /// Before a head, or inside one: `searched` bytes are known not to end it.
        case head(searched: Int)
        case body(remaining: Int)
        case chunkLine
        /// In a chunk's extensions, skipped as they come (never buffered); `started` once
        /// their ";" is seen.
        case chunkExtension(size: Int, started: Bool, skipped: Int)
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(searched: Int)
        case end
        case failed
    }

    let limits: Limits
    private var state = State.head(searched: 0)

    init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Whether a request has begun and not ended: bytes of one are read, or `buffered` holds some.
    func isInMessage(buffered: Int) -> Bool {
        switch state {
        case .head: buffered > 0
        case .failed: false
        default: true
        }
    }

    /// Whether `buffered` bytes are the start of the next head (not a body's rest).
    func hasPartialHead(buffered: Int) -> Bool {
        if case .head = state { buffered > 0 } else { false }
    }

    /// Whether `buffer` holds the next request's whole head. At graceful shutdown reading
    /// stops, so a head only begun is never answered, and the response before it is the last.
    func hasWholeHead(in buffer: ByteBuffer) -> Bool {
        guard case .head = state else { return false }
        var buffer = buffer
        while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == Self.crlf16 {
            buffer.moveReaderIndex(forwardBy: 2)
        }
        // A copy: the search remembers how far it went. Over the cap, or malformed, it is a
        // request too: answered with its refusal.
        var probe = self
        do { return try probe.findSectionEnd(buffer, from: 0, cap: limits.maxHeaderBytes, head: true) != nil } catch { return true }
    }

    /// The next part in `buffer`, consuming its bytes; nil when more bytes are needed.
    /// After a failure every call fails the same way: nothing that follows can be trusted.
    mutating func next(from buffer: inout ByteBuffer) throws(Failure) -> Part? {
        do {
            return try step(&buffer)
        } catch {
            state = .failed
            throw error
        }
    }

    private mutating func step(_ buffer: inout ByteBuffer) throws(Failure) -> Part? {
        switch state {
        case .failed:
            throw .malformed("the connection's input is past a malformed request")
        case .head(var searched):
            // RFC 9112 §2.2: empty lines before a request line are ignored.
            while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == Self.crlf16 {
                buffer.moveReaderIndex(forwardBy: 2)
                searched = max(0, searched - 2)
            }
            guard let end = try findSectionEnd(buffer, from: searched, cap: limits.maxHeaderBytes, head: true) else { return nil }
            let head = try buffer.withUnsafeReadableBytes { bytes throws(Failure) in try parseHead(UnsafeRawBufferPointer(rebasing: bytes[..<end])) }
            buffer.moveReaderIndex(forwardBy: end)
            switch head.framing {
            case .length(0): state = .end
            case .length(let length): state = .body(remaining: length)
            case .chunked: state = .chunkLine
            case .invalid: state = .failed
            }
            return .head(head)
        case .body(let remaining):
            guard buffer.readableBytes > 0 else { return nil }
            let count = min(remaining, buffer.readableBytes)
            state = count == remaining ? .end : .body(remaining: remaining - count)
            return .body(buffer.readSlice(length: count)!)
        case .end:
            state = .head(searched: 0)
            return .end(nil)
        case .chunkLine:
            guard try readChunkSize(&buffer) else { return nil }
            return try step(&buffer)
        case .chunkExtension(let size, let started, let skipped):
            guard try skipChunkExtension(&buffer, size: size, started: started, skipped: skipped) else { return nil }
            return try step(&buffer)
        case .chunkData(let remaining):
            guard buffer.readableBytes > 0 else { return nil }
            let count = min(remaining, buffer.readableBytes)
            state = count == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - count)
            return .body(buffer.readSlice(length: count)!)
        case .chunkDataEnd:
            guard buffer.readableBytes >= 2 else { return nil }
            guard buffer.readInteger(as: UInt16.self) == Self.crlf16 else { throw .malformed("chunk data does not end with CRLF") }
            state = .chunkLine
            return try step(&buffer)
        case .trailers(let searched):
            if searched == 0, buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == Self.crlf16 {
                buffer.moveReaderIndex(forwardBy: 2)
                state = .head(searched: 0)
                return .end(nil)
            }
            guard let end = try findSectionEnd(buffer, from: searched, cap: limits.maxHeaderBytes, head: false) else { return nil }
            var fields = HTTPFields()
            try buffer.withUnsafeReadableBytes { bytes throws(Failure) in
                var host: String?
                var hosts = 0
                try parseFields(UnsafeRawBufferPointer(rebasing: bytes[..<end]), into: &fields, host: &host, hosts: &hosts)
                // Host in trailers means nothing (RFC 9110 §6.5.1); kept as a field.
                if let host { fields.insert(HTTPField(name: Self.hostName, value: host), at: 0) }
            }
            buffer.moveReaderIndex(forwardBy: end)
            state = .head(searched: 0)
            return .end(fields.isEmpty ? nil : fields)
        }
    }

    private static let crlf16 = UInt16(0x0D0A)

    /// The end of a head or trailer section (just past its empty line) within `cap` bytes;
    /// nil if it has not arrived yet, remembering how far was searched. A bare LF fails at once.
    private mutating func findSectionEnd(_ buffer: ByteBuffer, from searched: Int, cap: Int, head: Bool) throws(Failure) -> Int? {
        let (end, resume): (Int?, Int) = try buffer.withUnsafeReadableBytes { bytes throws(Failure) in
            var at = searched
            let limit = min(bytes.count, cap)
            while at < limit {
                guard let lf = Self.index(of: 0x0A, in: bytes, from: at, to: limit) else {
                    at = limit
                    break
                }
                guard lf > 0, bytes[lf - 1] == 0x0D else { throw .malformed("a line ends in LF without CR") }
                // An empty line: CRLF right after the previous line's LF, or at the start of
                // trailers (a head's leading empty lines were skipped).
                if (lf >= 2 && bytes[lf - 2] == 0x0A) || lf == 1 { return (lf + 1, 0) }
                at = lf + 1
            }
            if bytes.count >= cap {
                if head, !Self.containsLF(bytes, before: cap) { throw .requestLineTooLong }
                throw .fieldsTooLarge
            }
            // The next search looks back from each LF it finds, so it starts where this one
            // stopped: a head sent a byte at a time is searched once, not once per byte.
            return (nil, at)
        }
        if end == nil { state = head ? .head(searched: resume) : .trailers(searched: resume) }
        return end
    }

    private static func containsLF(_ bytes: UnsafeRawBufferPointer, before end: Int) -> Bool {
        index(of: 0x0A, in: bytes, from: 0, to: end) != nil
    }

    private static func index(of byte: UInt8, in bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int? {
        var at = start
        while at < end {
            if bytes[at] == byte { return at }
            at += 1
        }
        return nil
    }

    // MARK: the head

    private func parseHead(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> Head {
        // request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 §3)
        guard let lineEnd = Self.index(of: 0x0A, in: bytes, from: 0, to: bytes.count) else { throw .malformed("no request line") }
        let line = UnsafeRawBufferPointer(rebasing: bytes[..<(lineEnd - 1)])
        guard let space1 = Self.index(of: 0x20, in: line, from: 0, to: line.count), space1 > 0 else { throw .malformed("invalid request line") }
        let methodBytes = UnsafeRawBufferPointer(rebasing: line[..<space1])
        // Methods are case-sensitive (RFC 9110 §9.1) and every registered one is uppercase:
        // "post" is not POST, and is refused as llhttp and nginx refuse it.
        guard methodBytes.allSatisfy({ Self.isTokenByte($0) && !($0 >= 0x61 && $0 <= 0x7A) }) else { throw .malformed("invalid method") }
        guard let space2 = Self.index(of: 0x20, in: line, from: space1 + 1, to: line.count), space2 > space1 + 1 else { throw .malformed("invalid request line") }
        let targetBytes = UnsafeRawBufferPointer(rebasing: line[(space1 + 1)..<space2])
        // Visible ASCII only (RFC 3986 characters; a space would be a second separator).
        guard targetBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .malformed("invalid request target") }
        let minor = try Self.version(UnsafeRawBufferPointer(rebasing: line[(space2 + 1)...]))

        var fields = HTTPFields()
        // One allocation for a typical request's fields, not one per doubling.
        fields.reserveCapacity(16)
        var authority: String?
        var hosts = 0
        try parseFields(UnsafeRawBufferPointer(rebasing: bytes[(lineEnd + 1)...]), into: &fields, host: &authority, hosts: &hosts)
        let method = Self.method(methodBytes)
        return Head(method: method, target: String(decoding: targetBytes, as: UTF8.self), minorVersion: minor,
                    authority: authority, hostCount: hosts, fields: fields, framing: Self.framing(fields, minorVersion: minor))
    }

    /// `HTTP/1.x`: 0 for 1.0, otherwise 1 (RFC 9110 §2.5: a higher minor version is read
    /// as the highest one implemented); another major version is 505, anything else 400.
    private static func version(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> Int {
        guard bytes.count == 8, bytes.starts(with: "HTTP/".utf8), bytes[6] == UInt8(ascii: "."),
              isDigit(bytes[5]), isDigit(bytes[7]) else { throw .malformed("invalid HTTP version") }
        guard bytes[5] == UInt8(ascii: "1") else { throw .versionNotSupported }
        return bytes[7] == UInt8(ascii: "0") ? 0 : 1
    }

    private static func method(_ bytes: UnsafeRawBufferPointer) -> HTTPRequest.Method {
        func `is`(_ name: StaticString) -> Bool {
            bytes.elementsEqual(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        }
        switch bytes.count {
        case 3 where `is`("GET"): return .get
        case 4 where `is`("POST"): return .post
        case 6 where `is`("DELETE"): return .delete
        case 4 where `is`("HEAD"): return .head
        default:
            // A token, checked: never nil.
            return HTTPRequest.Method(String(decoding: bytes, as: UTF8.self))!
        }
    }

    /// Parses the field lines of a section (each ending in CRLF, then the empty line) into
    /// `fields`, the first Host into `host`, counting Host lines in `hosts`.
    private func parseFields(_ bytes: UnsafeRawBufferPointer, into fields: inout HTTPFields, host: inout String?, hosts: inout Int) throws(Failure) {
        // The section was found within the byte cap; the count is checked here.
        var at = 0
        var count = 0
        while true {
            let lf = Self.index(of: 0x0A, in: bytes, from: at, to: bytes.count)!
            if lf == at + 1 { return }  // the empty line
            count += 1
            guard count <= limits.maxHeaderCount else { throw .fieldsTooLarge }
            let line = UnsafeRawBufferPointer(rebasing: bytes[at..<(lf - 1)])
            at = lf + 1
            if line[0] == 0x20 || line[0] == 0x09 { throw .malformed("obsolete line folding") }
            // field-line = field-name ":" OWS field-value OWS (RFC 9112 §5)
            guard let colon = Self.index(of: UInt8(ascii: ":"), in: line, from: 0, to: line.count) else { throw .malformed("a field line without a colon") }
            let nameBytes = UnsafeRawBufferPointer(rebasing: line[..<colon])
            guard !nameBytes.isEmpty, nameBytes.allSatisfy(Self.isTokenByte) else { throw .malformed("invalid field name") }
            var start = colon + 1
            var end = line.count
            while start < end, line[start] == 0x20 || line[start] == 0x09 { start += 1 }
            while end > start, line[end - 1] == 0x20 || line[end - 1] == 0x09 { end -= 1 }
            let value = UnsafeRawBufferPointer(rebasing: line[start..<end])
            // field-vchar = VCHAR / obs-text, with SP and HTAB inside: no controls, no DEL.
            var ascii = true
            for byte in value {
                guard byte >= 0x20 ? byte != 0x7F : byte == 0x09 else { throw .malformed("invalid character in a field value") }
                if byte >= 0x80 { ascii = false }
            }
            // Matched on the bytes: `HTTPField.Name`'s == compares strings, for every line.
            if nameBytes.count == 4, nameBytes.equalsIgnoringASCIICase("host") {
                hosts += 1
                if host == nil {
                    host = String(decoding: value, as: UTF8.self)
                    continue
                }
            }
            let name = Self.fieldName(nameBytes)
            // An ASCII value becomes a String on the contiguous fast path; the bytes overload
            // validates UTF-8 through a generic one (2 % of a `tools/list` in the profile).
            // obs-text keeps that overload: bytes that are not UTF-8 are kept as they came.
            if ascii {
                fields.append(HTTPField(name: name, value: String(decoding: value, as: UTF8.self)))
            } else {
                fields.append(HTTPField(name: name, value: value))
            }
        }
    }

    /// The framing of a request (RFC 9112 §6.1–6.3); a message framed both ways, with
    /// conflicting or malformed lengths, or with transfer codings that do not end in one
    /// `chunked` is refused with 400, so no two parsers can disagree about where it ends. A
    /// coding before the final `chunked` (`gzip, chunked`) frames the message well but is one
    /// this server does not decode: 501, as §6.1 advises.
    static func framing(_ fields: HTTPFields, minorVersion: Int) -> Framing {
        var length: Int?
        var lengthProblem: String?
        var codings = TransferCodings()
        for index in fields.indices {
            if fields.hasName(.contentLength, at: index) {
                // 1*DIGIT, once (RFC 9110 §8.6): a list or a second line, even of the same
                // value, is refused rather than merged.
                if length != nil || lengthProblem != nil {
                    lengthProblem = "more than one Content-Length"
                    continue
                }
                let parsed: Int? = fields[index].withUnsafeBytesOfValue { value in
                    // Leading zeros are valid digits; 15 significant ones stay far from overflow.
                    guard !value.isEmpty, value.allSatisfy(isDigit) else { return nil }
                    let significant = value.drop { $0 == UInt8(ascii: "0") }
                    guard significant.count <= 15 else { return nil }
                    return significant.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
                }
                if let parsed { length = parsed } else { lengthProblem = "invalid Content-Length" }
            } else if fields.hasName(.transferEncoding, at: index) {
                fields[index].withUnsafeBytesOfValue { codings.read(UnsafeRawBufferPointer($0)) }
            }
        }
        guard codings.present else {
            if let lengthProblem { return .invalid(.badRequest, lengthProblem) }
            return .length(length ?? 0)
        }
        if length != nil || lengthProblem != nil { return .invalid(.badRequest, "both Content-Length and Transfer-Encoding") }
        // HTTP/1.0 has no transfer codings (RFC 9112 §6.1): faulty framing.
        guard minorVersion == 1 else { return .invalid(.badRequest, "Transfer-Encoding in HTTP/1.0") }
        if let problem = codings.problem { return .invalid(.badRequest, problem) }
        // §6.3: chunked must be the final coding, else the length cannot be known.
        guard codings.chunkedLast else { return .invalid(.badRequest, "chunked is not the final transfer coding") }
        if let unsupported = codings.unsupported { return .invalid(.notImplemented, "transfer coding \(unsupported) is not supported") }
        return .chunked
    }

    /// Transfer-Encoding read as one list over all its lines (RFC 9110 §5.3), element by
    /// element, without keeping them.
    private struct TransferCodings {
        var present = false
        /// The latest element is a bare `chunked`.
        var chunkedLast = false
        /// The first coding other than chunked (a token, at most 32 bytes, lowercased).
        var unsupported: String?
        /// Why the list frames nothing (400).
        var problem: String?

        mutating func read(_ value: UnsafeRawBufferPointer) {
            present = true
            // An empty element (an empty line is one) is refused, as llhttp does: a front end
            // that kept only the last line's value, or dropped empty elements differently,
            // could frame the message otherwise (RFC 9110 §5.6.1 allows refusing them).
            for element in value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) where problem == nil {
                let coding = trimmingOWS(UnsafeRawBufferPointer(rebasing: element))
                if coding.isEmpty {
                    problem = "an empty element in Transfer-Encoding"
                } else if chunkedLast {
                    // §7: chunked is applied once, and last.
                    problem = "chunked is not the final transfer coding"
                } else if coding.equalsIgnoringASCIICase("chunked") {
                    chunkedLast = true
                } else {
                    // transfer-coding = token *( OWS ";" OWS transfer-parameter )
                    let name = trimmingOWS(UnsafeRawBufferPointer(rebasing: coding.prefix { $0 != UInt8(ascii: ";") }))
                    if name.isEmpty || !name.allSatisfy(isTokenByte) {
                        problem = "invalid transfer coding"
                    } else if name.equalsIgnoringASCIICase("chunked") {
                        problem = "chunked with parameters"
                    } else if unsupported == nil {
                        unsupported = String(decoding: name.prefix(32), as: UTF8.self).lowercased()
                    }
                }
            }
        }
    }

    private static func trimmingOWS(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0
        var end = bytes.count
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    /// chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1): reads the size, then its line end or
    /// the start of its extensions. False until there are enough bytes.
    private mutating func readChunkSize(_ buffer: inout ByteBuffer) throws(Failure) -> Bool {
        let read: (size: Int, used: Int, next: UInt8)? = try buffer.withUnsafeReadableBytes { bytes throws(Failure) in
            var size = 0
            var at = 0
            var significant = 0
            while at < bytes.count, let digit = Self.hexValue(bytes[at]) {
                // 15 significant hex digits stay below 2^60: no overflow, and no body is that
                // long. Leading zeros are valid (1*HEXDIG), up to a line of 64 digits.
                if size != 0 || digit != 0 { significant += 1 }
                guard significant <= 15, at < 64 else { throw .malformed("chunk size too large") }
                size = size << 4 | digit
                at += 1
            }
            guard at < bytes.count else { return nil }
            guard at > 0 else { throw .malformed("invalid chunk size") }
            return (size, at, bytes[at])
        }
        guard let read else { return false }
        switch read.next {
        case 0x0D:
            guard buffer.readableBytes >= read.used + 2 else { return false }
            guard buffer.getInteger(at: buffer.readerIndex + read.used + 1, as: UInt8.self) == 0x0A else {
                throw .malformed("a chunk-size line does not end with CRLF")
            }
            buffer.moveReaderIndex(forwardBy: read.used + 2)
            state = read.size == 0 ? .trailers(searched: 0) : .chunkData(remaining: read.size)
        case UInt8(ascii: ";"), 0x20, 0x09:
            buffer.moveReaderIndex(forwardBy: read.used)
            state = .chunkExtension(size: read.size, started: false, skipped: 0)
        default:
            throw .malformed("invalid chunk size")
        }
        return true
    }

    /// chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ): nothing here uses
    /// them, so they are checked (visible characters, spaces and tabs, from a ";" on) and
    /// dropped as they arrive: a long one costs no memory. A chunk line's extensions are
    /// capped at the head's byte cap (RFC 9112 §7.1.1: a server ought to limit them): they
    /// make no body part, so neither the body cap nor the body's backpressure would ever
    /// stop a client that sends one without end. True once past the line's CRLF.
    private mutating func skipChunkExtension(_ buffer: inout ByteBuffer, size: Int, started: Bool, skipped: Int) throws(Failure) -> Bool {
        var started = started
        // The line's bytes still allowed: a byte past the cap is refused as such before it is
        // looked at, so the error is the same however the input is split (the fuzzer found an
        // invalid byte past the cap reported as invalid when it came in the same read).
        let room = limits.maxHeaderBytes - skipped
        let overTheCap = Failure.malformed("a chunk extension over the head's byte cap")
        let (used, done): (Int, Bool) = try buffer.withUnsafeReadableBytes { bytes throws(Failure) in
            var at = 0
            while at < bytes.count {
                guard at < room else { throw overTheCap }
                let byte = bytes[at]
                if byte == 0x0D {
                    // Keep a CR whose LF has not come yet.
                    guard at + 1 < bytes.count else { return (at, false) }
                    guard at + 1 < room else { throw overTheCap }
                    guard bytes[at + 1] == 0x0A, started else { throw .malformed("invalid chunk extension") }
                    return (at + 2, true)
                }
                if byte == UInt8(ascii: ";") {
                    started = true
                } else if !started ? !(byte == 0x20 || byte == 0x09) : !(byte >= 0x20 ? byte != 0x7F : byte == 0x09) {
                    throw .malformed("invalid chunk extension")
                }
                at += 1
            }
            return (at, false)
        }
        buffer.moveReaderIndex(forwardBy: used)
        if done {
            state = size == 0 ? .trailers(searched: 0) : .chunkData(remaining: size)
        } else {
            state = .chunkExtension(size: size, started: started, skipped: skipped + used)
        }
        return done
    }

    // MARK: bytes

    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    private static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case 0x30...0x39: Int(b - 0x30)
        case 0x41...0x46: Int(b - 0x41 + 10)
        case 0x61...0x66: Int(b - 0x61 + 10)
        default: nil
        }
    }

    /// `HTTPField.Name.host` is unavailable (HTTPTypes wants `authority`), but a request's
    /// Host lines are read here.
    static let hostName = HTTPField.Name("host")!

    /// tchar (RFC 9110 §5.6.2): `!#$%&'*+-.^_`|~`, digits and letters, as two bit masks
    /// (bytes 0-63 and 64-127): no table behind a lazy global's check on every byte.
    static func isTokenByte(_ b: UInt8) -> Bool {
        if b < 64 { return (0x03FF_6CFA_0000_0000 as UInt64) >> b & 1 == 1 }
        if b < 128 { return (0x57FF_FFFF_C7FF_FFFE as UInt64) >> (b - 64) & 1 == 1 }
        return false
    }

    /// A field name: those MCP clients send on every request are shared values, matched in
    /// any case (names compare case-insensitively, RFC 9110 §5.1); others are made and
    /// lowercased by `HTTPField.Name` (a checked token: never nil).
    static func fieldName(_ bytes: UnsafeRawBufferPointer) -> HTTPField.Name {
        func known(_ spelling: StaticString, _ field: HTTPField.Name) -> HTTPField.Name? {
            bytes.equalsIgnoringASCIICase(spelling) ? field : nil
        }
        let known: HTTPField.Name? = switch bytes.count {
        case 4: known("host", hostName)
        case 6: known("accept", .accept)
        case 8: known("mcp-name", .mcpName)
        case 10: known("mcp-method", .mcpMethod) ?? known("user-agent", .userAgent) ?? known("connection", .connection)
        case 12: known("content-type", .contentType)
        case 13: known("authorization", .authorization)
        case 14: known("content-length", .contentLength) ?? known("mcp-session-id", .mcpSessionID)
        case 17: known("transfer-encoding", .transferEncoding)
        case 20: known("mcp-protocol-version", .mcpProtocolVersion)
        default: nil
        }
        return known ?? HTTPField.Name(String(decoding: bytes, as: UTF8.self))!
    }
}
