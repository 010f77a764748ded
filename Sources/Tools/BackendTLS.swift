import NIOCore
import Synchronization
import TLS

/// TLS for https backends, on the system OpenSSL through the TLS module's client role:
/// the chain is verified against the backend's CA file (or the system trust store) and the
/// certificate must name the host (RFC 6125; an IP literal must be an IP SAN).
///
/// One `TLSContext` per CA file, built on first use and kept (a context costs ≈ 0.1 ms
/// and holds the parsed trust store). ``preload(caFiles:)`` builds them at start so an
/// unreadable CA file stops the server with a clear message instead of failing every call.
///
/// ```swift
/// let tls = BackendTLS(skipVerify: settings.skipVerify)
/// try tls.preload(caFiles: [settings.caFile])
/// let client = BackendHTTPClient(tlsHandlerProvider: tls.provider)
/// ```
public final class BackendTLS: Sendable {
    public let skipVerify: Bool
    public let handshakeTimeout: TimeAmount
    private let contexts = Mutex<[String: TLSContext]>([:])

    public init(skipVerify: Bool = false, handshakeTimeout: TimeAmount = .seconds(10)) {
        self.skipVerify = skipVerify
        self.handshakeTimeout = handshakeTimeout
    }

    /// What to log at start (`tls.skip_verify` turns verification off for every backend).
    public var startupWarnings: [String] {
        skipVerify ? ["tls.skip_verify is on: backend certificates and host names are NOT verified (only for testing)"] : []
    }

    public func context(caFile: String?) throws(TLSError) -> TLSContext {
        let key = caFile ?? ""
        if let cached = contexts.withLock({ $0[key] }) { return cached }
        let context = try TLSContext.client(caFile: caFile, verifyPeer: !skipVerify)
        return contexts.withLock { table in
            if let raced = table[key] { return raced }
            table[key] = context
            return context
        }
    }

    public func preload(caFiles: [String?]) throws(TLSError) {
        for caFile in caFiles { _ = try context(caFile: caFile) }
    }

    /// The provider for ``BackendHTTPClient``. The host name is always sent as SNI; with
    /// `skipVerify` the context does not verify, so a mismatch does not fail the handshake.
    public var provider: BackendHTTPClient.TLSHandlerProvider {
        { [self] serverName, caFile in
            TLSHandler(context: try context(caFile: caFile), role: .client(serverName: serverName), handshakeTimeout: handshakeTimeout)
        }
    }
}
