/// Docker's multiplexed log stream (Engine API "Attach to a container", stream format):
/// each frame is an 8-byte header `[stream, 0, 0, 0, size (UInt32 big endian)]` followed by
/// `size` bytes of output. The Go server returned the headers as text; this strips them.
///
/// Containers with a TTY send raw output without frames: a body that does not start with a
/// valid header is returned as it is.
enum DockerLogStream {
    static func demultiplex(_ bytes: [UInt8]) -> String {
        guard isHeader(bytes, at: 0) else { return String(decoding: bytes, as: UTF8.self) }
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            // A header cut off by the end of the body (the cap, or a dropped connection) is no
            // output: its binary bytes are left out.
            if isHeaderStart(bytes, at: index) { break }
            guard isHeader(bytes, at: index) else {
                out.append(contentsOf: bytes[index...])  // not a frame any more: keep the rest as is
                break
            }
            let size = Int(bytes[index + 4]) << 24 | Int(bytes[index + 5]) << 16 | Int(bytes[index + 6]) << 8 | Int(bytes[index + 7])
            let start = index + 8
            let end = min(start + size, bytes.count)  // a truncated last frame keeps what arrived
            out.append(contentsOf: bytes[start..<end])
            index = end
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Stream 0 to 3: stdin, stdout, stderr, and the daemon's own errors (`systemerr`, which
    /// Docker's stdcopy uses to report a failure of the stream).
    private static func isHeader(_ b: [UInt8], at i: Int) -> Bool {
        i + 8 <= b.count && b[i] <= 3 && b[i + 1] == 0 && b[i + 2] == 0 && b[i + 3] == 0
    }

    /// Fewer than 8 bytes left, and what there is could begin a header.
    private static func isHeaderStart(_ b: [UInt8], at i: Int) -> Bool {
        i + 8 > b.count && b[i] <= 3 && b[(i + 1)...].prefix(3).allSatisfy { $0 == 0 }
    }
}
