import HTTPTypes

/// Checks each request head as ``HTTPRequestParser`` read it, before it becomes an
/// `HTTPRequest` (which keeps one `authority` and would hide a second Host line):
/// - RFC 9112 §3.2: an HTTP/1.1 request without Host, with two Host lines, or with an
///   invalid Host value is answered 400;
/// - RFC 9110 §9.3.6: CONNECT asks a proxy for a tunnel, and this server is none: 405.
/// ``HTTPTypesCodec`` asks before converting a head, and refuses the request with a
/// ``RequestRefusal`` (answered after the requests before it, then the connection closes).
/// No handler of its own: one more handler was one more hop for every request part.
enum RequestHeadGuard {
    /// The refusal for a head that must not be served, if it is one.
    static func refusal(_ head: HTTPRequestParser.Head) -> RequestRefusal? {
        guard let (status, reason) = problem(head) else { return nil }
        let allow: HTTPFields = status == .methodNotAllowed ? [.allow: "GET, POST, DELETE"] : [:]
        return RequestRefusal(status, message: reason, fields: allow)
    }

    static func problem(_ head: HTTPRequestParser.Head) -> (HTTPResponse.Status, String)? {
        if head.method == .connect { return (.methodNotAllowed, "Method Not Allowed: this server is not a proxy") }
        if head.minorVersion >= 1, head.hostCount == 0 { return (.badRequest, "Bad Request: Host header is required") }
        if head.hostCount > 1 { return (.badRequest, "Bad Request: more than one Host header") }
        if let host = head.authority, !isValidHost(host) { return (.badRequest, "Bad Request: invalid Host header") }
        return nil
    }

    /// `uri-host [ ":" port ]` (RFC 9110 §7.2): a reg-name, IPv4 or bracketed IPv6 literal.
    /// Checked on the UTF-8 bytes in place: it runs for every request.
    static func isValidHost(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { isValidHost($0[...]) }
    }

    private static func isValidHost(_ whole: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        var bytes = whole
        guard !bytes.isEmpty, bytes.count <= 255 else { return false }
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        func isPort(_ port: Slice<UnsafeBufferPointer<UInt8>>) -> Bool { port.count <= 5 && port.allSatisfy(isDigit) }
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return false }
            let literal = bytes[(bytes.startIndex + 1)..<close]
            let isHex = { (b: UInt8) in isDigit(b) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x66) || b == 0x3A || b == 0x2E }
            guard !literal.isEmpty, literal.allSatisfy(isHex) else { return false }
            let rest = bytes[(close + 1)...]
            return rest.isEmpty || (rest.first == 0x3A && isPort(rest.dropFirst()))
        }
        if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) {
            guard isPort(bytes[(colon + 1)...]) else { return false }
            bytes = bytes[..<colon]
        }
        // reg-name = *( unreserved / pct-encoded / sub-delims )
        return !bytes.isEmpty && bytes.allSatisfy { b in
            (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || isDigit(b) || Self.hostPunctuation[Int(b)]
        }
    }

    /// `-._~!$&'()*+,;=%` as a byte table.
    private static let hostPunctuation: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for b in "-._~!$&'()*+,;=%".utf8 { table[Int(b)] = true }
        return table
    }()
}
