import Dispatch
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Resolves backend host names for ``BackendHTTPClient``, off the event loops and apart for
/// each host.
///
/// NIO's default resolver runs `getaddrinfo` (which cannot be cancelled) on one serial queue
/// per event loop thread: a backend whose name server does not answer (10–30 s a lookup)
/// queued a lookup there for each call, and every other backend's connect from that loop,
/// by address or by name, waited behind them and timed out. Here a lookup runs on a thread
/// of the global dispatch pool, at most one per host and port at a time (the connects that
/// ask meanwhile wait for its answer), and an answer is kept for ``cacheTime``. An IP
/// literal is never looked up.
final class BackendResolver: Sendable {
    /// A blocking lookup of `host`: its TCP addresses for `port`.
    typealias Lookup = @Sendable (_ host: String, _ port: Int) -> Result<[SocketAddress], any Error>

    private struct Key: Hashable {
        var host: String
        var port: Int
    }

    private enum Entry {
        case pending([EventLoopPromise<[SocketAddress]>])
        case resolved([SocketAddress], until: NIODeadline)
    }

    let cacheTime: TimeAmount
    private let lookup: Lookup
    private let entries = Mutex<[Key: Entry]>([:])

    init(cacheTime: TimeAmount = .seconds(10), lookup: @escaping Lookup = BackendResolver.getaddrinfoLookup) {
        self.cacheTime = cacheTime
        self.lookup = lookup
    }

    /// The addresses of `host`, completed on `loop`.
    func resolve(host: String, port: Int, on loop: any EventLoop) -> EventLoopFuture<[SocketAddress]> {
        if let literal = try? SocketAddress(ipAddress: host, port: port) { return loop.makeSucceededFuture([literal]) }
        let key = Key(host: host, port: port)
        let promise = loop.makePromise(of: [SocketAddress].self)
        let now = NIODeadline.now()
        let (cached, starts): ([SocketAddress]?, Bool) = entries.withLock { entries in
            switch entries[key] {
            case .resolved(let addresses, let until) where until > now:
                return (addresses, false)
            case .pending(var waiting):
                waiting.append(promise)
                entries[key] = .pending(waiting)
                return (nil, false)
            case .resolved, nil:
                entries[key] = .pending([promise])
                return (nil, true)
            }
        }
        if let cached {
            promise.succeed(cached)
        } else if starts {
            DispatchQueue.global().async { self.finish(key, self.lookup(host, port)) }
        }
        return promise.futureResult
    }

    private func finish(_ key: Key, _ result: Result<[SocketAddress], any Error>) {
        let waiting: [EventLoopPromise<[SocketAddress]>] = entries.withLock { entries in
            guard case .pending(let waiting) = entries[key] else { return [] }
            if case .success(let addresses) = result, !addresses.isEmpty {
                entries[key] = .resolved(addresses, until: .now() + cacheTime)
            } else {
                entries[key] = nil
            }
            return waiting
        }
        for promise in waiting { promise.completeWith(result) }
    }

    /// A name the system's resolver could not turn into an address.
    struct UnknownHost: Error, CustomStringConvertible {
        var host: String
        var reason: String
        var description: String { "cannot resolve \(host): \(reason)" }
    }

    /// Drops what is kept for `host` (a connect to its addresses failed: it may have moved).
    func forget(host: String, port: Int) {
        entries.withLock { entries in
            if case .resolved? = entries[Key(host: host, port: port)] { entries[Key(host: host, port: port)] = nil }
        }
    }

    /// What one connect asks NIO's happy eyeballs to use: both queries share one lookup.
    func queries(on loop: any EventLoop) -> Queries { Queries(resolver: self, loop: loop) }

    struct Queries: Resolver, Sendable {
        let resolver: BackendResolver
        let loop: any EventLoop

        func initiateAQuery(host: String, port: Int) -> EventLoopFuture<[SocketAddress]> {
            resolver.resolve(host: host, port: port, on: loop).map { $0.filter { $0.protocol == .inet } }
        }

        func initiateAAAAQuery(host: String, port: Int) -> EventLoopFuture<[SocketAddress]> {
            resolver.resolve(host: host, port: port, on: loop).map { $0.filter { $0.protocol == .inet6 } }
        }

        /// A running `getaddrinfo` cannot be stopped; its answer is kept for the next connect.
        func cancelQueries() {}
    }

    /// The system's resolver (`getaddrinfo`: hosts file, DNS, as configured), TCP addresses.
    static let getaddrinfoLookup: Lookup = { host, port in
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let list else {
            return .failure(UnknownHost(host: host, reason: rc == 0 ? "no address" : String(cString: gai_strerror(rc))))
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var next: UnsafeMutablePointer<addrinfo>? = list
        while let info = next {
            if let address = info.pointee.ai_addr {
                switch info.pointee.ai_family {
                case AF_INET:
                    let v4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
                    addresses.append(SocketAddress(v4, host: host))
                case AF_INET6:
                    let v6 = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee }
                    addresses.append(SocketAddress(v6, host: host))
                default:
                    break
                }
            }
            next = info.pointee.ai_next
        }
        return .success(addresses)
    }
}
