import NIOCore
import Synchronization

/// Idle keep-alive connections, per backend (scheme, host, port), at most
/// `maxIdlePerBackend` each and each for at most `maxIdleTime`.
///
/// Only idle connections are pooled: a connection is taken out for one exchange and put
/// back when the response said keep-alive and was read completely. Anything else
/// (timeouts, cancellations, refused bodies, errors) closes it. Servers close idle
/// connections on their own schedule (Go's default is 90 s, Node's 5 s); the client
/// handles a connection that died while pooled by retrying on a fresh one.
final class ConnectionPool: Sendable {
    struct Key: Hashable, Sendable {
        var isTLS: Bool
        var host: String
        var port: Int
        /// Connections verified against different CA bundles are not interchangeable.
        var caFile: String?
    }

    struct Connection: Sendable {
        var channel: any Channel
        var handler: NIOLoopBound<HTTPConnectionHandler>
        var idleSince: NIODeadline = .now()
    }

    let maxIdlePerBackend: Int
    let maxIdleTime: TimeAmount
    private let idle = Mutex<[Key: [Connection]]>([:])

    init(maxIdlePerBackend: Int, maxIdleTime: TimeAmount) {
        self.maxIdlePerBackend = max(0, maxIdlePerBackend)
        self.maxIdleTime = maxIdleTime
    }

    /// The most recently used live connection, or nil. Stale ones are closed on the way.
    func take(_ key: Key) -> Connection? {
        let oldest = NIODeadline.now() - maxIdleTime
        var stale: [Connection] = []
        let found: Connection? = idle.withLock { table in
            while let connection = table[key]?.popLast() {
                if connection.channel.isActive && connection.idleSince > oldest { return connection }
                stale.append(connection)
            }
            return nil
        }
        for connection in stale { connection.channel.close(promise: nil) }
        return found
    }

    /// Pools the connection, or closes it when the backend's idle slots are full.
    func put(_ key: Key, _ connection: Connection) {
        var connection = connection
        connection.idleSince = .now()
        let kept = idle.withLock { table in
            guard table[key, default: []].count < maxIdlePerBackend else { return false }
            table[key, default: []].append(connection)
            return true
        }
        if !kept { connection.channel.close(promise: nil) }
    }

    var idleCount: Int { idle.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// Closes every idle connection (at shutdown).
    func closeAll() {
        let all = idle.withLock { table in
            defer { table.removeAll() }
            return table.values.flatMap { $0 }
        }
        for connection in all { connection.channel.close(promise: nil) }
    }
}
