import COpenSSL
import NIOCore

/// One `SSL*` and its `ByteBufferBIO`: the layer between the NIO handler and OpenSSL.
///
/// Every OpenSSL call here starts with `ERR_clear_error()`, because `SSL_get_error` reads the
/// thread's error queue and a stale entry left by another connection on the same event loop
/// thread would turn a harmless "want read" into a failure. Every failure drains the queue.
/// Not thread-safe: used only on the channel's event loop.
final class TLSConnection {
    let ssl: OpaquePointer
    let bio: ByteBufferBIO
    /// Keeps the context's Swift wrapper (and so its `SSL_CTX`) alive as long as this connection.
    let context: TLSContext
    let isServer: Bool

    enum HandshakeOutcome {
        case complete
        case wantRead
        case failed(TLSError, TLSHandshakeResult)
    }

    enum ReadOutcome {
        /// Some plaintext was appended; call again.
        case data
        /// Needs more ciphertext.
        case wantRead
        /// The peer sent close_notify.
        case closeNotify
        case failed(TLSError)
    }

    init(context: TLSContext, role: TLSRole, allocator: ByteBufferAllocator) throws(TLSError) {
        ERR_clear_error()
        guard let ssl = SSL_new(context.ctx) else {
            throw .drainingQueue(.contextSetup, fallback: "SSL_new failed")
        }
        self.ssl = ssl
        self.context = context
        self.bio = ByteBufferBIO(allocator: allocator)
        // One BIO for both directions: SSL_set_bio takes exactly one reference in that case.
        SSL_set_bio(ssl, bio.bio, bio.bio)
        switch role {
        case .server:
            isServer = true
            SSL_set_accept_state(ssl)
        case .client(let serverName):
            isServer = false
            SSL_set_connect_state(ssl)
            if let serverName {
                try Self.configureHostCheck(ssl, serverName: serverName)
            }
        }
    }

    deinit { SSL_free(ssl) }

    private static func configureHostCheck(_ ssl: OpaquePointer, serverName: String) throws(TLSError) {
        let isIP = serverName.contains(":") || serverName.allSatisfy { $0.isNumber || $0 == "." }
        if isIP {
            // RFC 6066 §3: literal IP addresses are not permitted in SNI.
            guard let param = SSL_get0_param(ssl), X509_VERIFY_PARAM_set1_ip_asc(param, serverName) == 1 else {
                throw .drainingQueue(.contextSetup, fallback: "invalid IP address \(serverName)")
            }
        } else {
            guard axn_SSL_set_tlsext_host_name(ssl, serverName) == 1, SSL_set1_host(ssl, serverName) == 1 else {
                throw .drainingQueue(.contextSetup, fallback: "invalid server name \(serverName)")
            }
            // No fallback to the subject's common name for a certificate without DNS names
            // (RFC 9525 §6.3), which OpenSSL otherwise makes.
            SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT))
        }
    }

    /// From now on, counts the peer's TLS 1.3 KeyUpdates in the BIO's
    /// ``ByteBufferBIO/keyUpdates``. OpenSSL 3.0 reports no post-handshake
    /// message as `SSL_CB_HANDSHAKE_START` (only a first handshake, or TLS 1.2's), and its
    /// `SSL_CB_ACCEPT_EXIT` also ends the exchange that sends our KeyUpdate in answer to one
    /// asking for it; the state machine's step into `TLS_ST_SR_KEY_UPDATE` is one per KeyUpdate
    /// received (seen with `s_client`'s `k` and `K`). Set once the handshake completed, so the
    /// callback costs nothing during it, nor for application data (only state changes call it).
    /// Past `limit`, the BIO stops giving OpenSSL input (``ByteBufferBIO/keyUpdateLimit``).
    func countKeyUpdates(limit: Int) {
        bio.keyUpdateLimit = limit
        SSL_set_info_callback(ssl, countKeyUpdate)
    }

    /// Decrypted bytes OpenSSL holds from a record already read (`SSL_has_pending` also counts
    /// unprocessed record bytes).
    var hasPendingPlaintext: Bool { SSL_has_pending(ssl) == 1 }

    /// Decrypted bytes ready to be returned by the next read.
    var pendingPlaintextBytes: Int { Int(SSL_pending(ssl)) }

    /// Ciphertext not yet read by OpenSSL, or record bytes it read but has not returned.
    var hasBufferedInput: Bool { bio.inboundBytes > 0 || hasPendingPlaintext }

    var isHandshakeComplete: Bool { SSL_is_init_finished(ssl) == 1 }

    var negotiatedALPN: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The SNI host name the client sent (server role), if any.
    var requestedServerName: String? {
        guard let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) else { return nil }
        return String(cString: name)
    }

    var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    /// The SHA-256 of the peer's certificate (DER), when it presented one and the chain
    /// verified; nil otherwise. A client certificate is only asked for with `client_auth`
    /// on, so without it this is nil at the cost of one check.
    var peerCertificateSHA256: [UInt8]? {
        guard let certificate = SSL_get0_peer_certificate(ssl), SSL_get_verify_result(ssl) == X509_V_OK else { return nil }
        return TLSContext.sha256(of: certificate)
    }

    func handshake() -> HandshakeOutcome {
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 { return .complete }
        let code = SSL_get_error(ssl, rc)
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wantRead
        default:
            return classifyHandshakeFailure(code)
        }
    }

    private func classifyHandshakeFailure(_ code: Int32) -> HandshakeOutcome {
        let verify = SSL_get_verify_result(ssl)
        let verifyText = verify == X509_V_OK ? nil : String(cString: X509_verify_cert_error_string(verify))
        var error = TLSError.drainingQueue(.handshakeFailed, fallback: "handshake failed")
        if let verifyText { error.reason += " (certificate: \(verifyText))" }
        let result: TLSHandshakeResult
        switch error.openSSLReasonCode {
        case SSL_R_UNEXPECTED_EOF_WHILE_READING:
            error.kind = .handshakeTruncated
            result = .closed
        case SSL_R_NO_SHARED_CIPHER:
            result = .noSharedCipher
        // Not SSL_R_WRONG_VERSION_NUMBER: OpenSSL also says that of any first record that
        // does not look like TLS (a port scanner, plain bytes), which would make the count
        // read as clients still on old versions.
        case SSL_R_UNSUPPORTED_PROTOCOL, SSL_R_VERSION_TOO_LOW,
            SSL_R_NO_PROTOCOLS_AVAILABLE, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
            result = .unsupportedVersion
        // We refused the peer's certificate (or its absence): a client's on the server, the
        // server's chain or name on the client.
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE, SSL_R_CERTIFICATE_VERIFY_FAILED:
            result = isServer ? .clientCertRejected : .peerCertRejected
        case SSL_R_NO_APPLICATION_PROTOCOL, SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
            result = .noApplicationProtocol
        // A client answers `handshake_failure` to a server with no cipher in common, the
        // usual server reply to an offer it cannot meet.
        case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE where !isServer:
            result = .noSharedCipher
        // Any other alert was the peer's refusal, not ours (OpenSSL files a received alert
        // as reason 1000 + its code): a client that does not trust our certificate sends
        // unknown_ca, which is not a client certificate we rejected.
        case let reason where reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256:
            result = .peerAlert
        case 0 where code == SSL_ERROR_SYSCALL || code == SSL_ERROR_ZERO_RETURN:
            error.kind = .handshakeTruncated
            error.reason = "the peer closed the connection during the handshake"
            result = .closed
        default:
            result = .protocolError
        }
        return .failed(error, result)
    }

    /// Decrypts at most one record's worth of plaintext into `buffer`'s free space (at least a
    /// byte of it; what does not fit stays pending in OpenSSL for the next read).
    func read(into buffer: inout ByteBuffer) -> ReadOutcome {
        ERR_clear_error()
        var readBytes = 0
        var rc: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 1) { target in
            rc = SSL_read_ex(ssl, target.baseAddress, target.count, &readBytes)
            return rc == 1 ? readBytes : 0
        }
        if rc == 1 { return .data }
        let code = SSL_get_error(ssl, rc)
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wantRead
        case SSL_ERROR_ZERO_RETURN:
            return .closeNotify
        default:
            var error = TLSError.drainingQueue(.protocolError, fallback: "SSL_read failed")
            if error.openSSLReasonCode == SSL_R_UNEXPECTED_EOF_WHILE_READING
                || (error.openSSLReasonCode == 0 && code == SSL_ERROR_SYSCALL)
            {
                error.kind = .uncleanShutdown
                error.reason = "the peer closed TCP without close_notify (truncation attack or a careless client)"
            }
            return .failed(error)
        }
    }

    enum WriteOutcome {
        case written
        /// Nothing was written: OpenSSL must read first (below). Retry with the same bytes.
        case wantsRead
        case failed(TLSError)
    }

    /// Encrypts all of `data` into the outbound BIO (our BIO never blocks, so writes are whole).
    ///
    /// A post-handshake message the peer split over records (a session ticket, a KeyUpdate)
    /// puts OpenSSL back "in init" until its last record arrives, and a write in that state
    /// wants to read first: nothing is written, and the write is retried after the next read.
    func write(_ data: ByteBuffer) -> WriteOutcome {
        guard data.readableBytes > 0 else { return .written }
        ERR_clear_error()
        var written = 0
        let rc = data.withUnsafeReadableBytes { bytes in
            SSL_write_ex(ssl, bytes.baseAddress, bytes.count, &written)
        }
        if rc == 1, written == data.readableBytes { return .written }
        if rc != 1, SSL_get_error(ssl, rc) == SSL_ERROR_WANT_READ {
            ERR_clear_error()
            return .wantsRead
        }
        return .failed(.drainingQueue(.protocolError, fallback: "SSL_write failed"))
    }

    /// Queues our close_notify (RFC 8446 §6.1); false when none could be: OpenSSL refuses
    /// `SSL_shutdown` during the handshake, and while a post-handshake message of the peer's
    /// is half received ("shutdown while in init").
    func sendCloseNotify() -> Bool {
        guard isHandshakeComplete else { return false }
        ERR_clear_error()
        let queued = SSL_shutdown(ssl) >= 0
        ERR_clear_error()
        return queued
    }
}

/// OpenSSL's info callback (`SSL_set_info_callback`): counts each KeyUpdate received on the
/// connection's BIO.
private let countKeyUpdate: @convention(c) (OpaquePointer?, Int32, Int32) -> Void = { ssl, event, _ in
    guard event & SSL_CB_LOOP != 0, let ssl, SSL_get_state(ssl) == TLS_ST_SR_KEY_UPDATE,
          let bio = SSL_get_rbio(ssl), let data = BIO_get_data(bio) else { return }
    Unmanaged<ByteBufferBIO>.fromOpaque(data).takeUnretainedValue().keyUpdates += 1
}
