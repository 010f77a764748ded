import NIOCore
import RateLimit

extension SocketAddress {
    /// The peer's rate-limit and connection-cap key. Nil for a Unix domain socket.
    var clientAddressKey: ClientAddressKey? { clientIPAddress.map { ClientAddressKey($0) } }

    /// The peer's IP address, read from the socket address's bytes. Going through `ipAddress`
    /// instead formats the address as text (`inet_ntop` and a `String`) only for it to be parsed
    /// back: about 1 % of a new TLS connection's CPU. Nil for a Unix domain socket.
    ///
    /// The address sits at offset 4 of a `sockaddr_in` and 8 of a `sockaddr_in6` (after the
    /// family, the port and, for IPv6, the flow label), in network byte order, on Linux and
    /// the BSDs alike; the bytes are read through `withSockAddr` because the structs' members
    /// come from different C modules in debug and release builds.
    var clientIPAddress: IPAddress? {
        let (offset, count): (Int, Int)
        switch self {
        case .v4: (offset, count) = (4, 4)
        case .v6: (offset, count) = (8, 16)
        case .unixDomainSocket: return nil
        }
        return withSockAddr { pointer, size in
            guard size >= offset + count else { return nil }
            let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(pointer) + offset, count: count)
            return IPAddress(bytes: bytes)
        }
    }
}
