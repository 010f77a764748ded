#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import RateLimit

extension SocketAddress {
    /// The peer's rate-limit and connection-cap key, read from the socket address's bytes.
    /// Going through `ipAddress` instead formats the address as text (`inet_ntop` and a
    /// `String`) only for `ClientAddressKey` to parse it back: about 1 % of a new TLS
    /// connection's CPU. Nil for a Unix domain socket.
    var clientAddressKey: ClientAddressKey? {
        switch self {
        case .v4, .v6:
            return withSockAddr { pointer, _ in
                let raw = UnsafeRawPointer(pointer)
                if pointer.pointee.sa_family == sa_family_t(AF_INET) {
                    let address = raw.loadUnaligned(as: sockaddr_in.self).sin_addr.s_addr
                    return .v4(UInt32(bigEndian: address))
                }
                var address = raw.loadUnaligned(as: sockaddr_in6.self).sin6_addr
                return withUnsafeBytes(of: &address) { ClientAddressKey(addressBytes: $0) }
            }
        case .unixDomainSocket:
            return nil
        }
    }
}
