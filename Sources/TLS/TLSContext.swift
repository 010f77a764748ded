import COpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An OpenSSL `SSL_CTX`, built once per configuration and never mutated afterwards.
///
/// OpenSSL allows concurrent `SSL_new` calls on a context that is no longer being configured,
/// which is what makes this type `Sendable`: every setter runs inside `server(_:)` / `client(...)`
/// before the value escapes. A reload builds a new context (≈ 0.65 ms) and swaps it in; live
/// connections hold a reference to the old one (`SSL_new` takes its own reference to the `SSL_CTX`).
public final class TLSContext: @unchecked Sendable {
    let ctx: OpaquePointer
    /// Whether connections made from this context act as a server.
    public let isServer: Bool
    /// The leaf certificate's notAfter, in seconds since 1970 (nil for a client context).
    public let certificateNotAfter: Double?
    /// The settings a server context was built from.
    public let settings: TLSServerSettings?

    private init(ctx: OpaquePointer, isServer: Bool, notAfter: Double?, settings: TLSServerSettings?) {
        self.ctx = ctx
        self.isServer = isServer
        self.certificateNotAfter = notAfter
        self.settings = settings
    }

    deinit { SSL_CTX_free(ctx) }

    /// Mozilla intermediate (v5.7) TLS 1.2 suites, ECDHE only (forward secrecy, AEAD only).
    static let intermediateCiphers =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        + "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        + "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
    static let tls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    static let groups = "X25519:P-256:P-384"

    /// Builds a server context.
    ///
    /// Session tickets are off by default (`SSL_OP_NO_TICKET` for TLS 1.2, zero TLS 1.3 tickets):
    /// OpenSSL's ticket keys are random per `SSL_CTX`, never rotated while it lives, and not shared
    /// between processes, so tickets would buy little resumption (every reload or restart drops
    /// them) while one long-lived key would protect every resumed session's secrets. With
    /// `sessionTickets: true` the keys live as long as this context, i.e. until the next reload.
    public static func server(_ s: TLSServerSettings) throws(TLSError) -> TLSContext {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else {
            throw .drainingQueue(.contextSetup, fallback: "SSL_CTX_new failed")
        }
        do throws(TLSError) {
            try applyCommon(ctx, profile: s.profile)
            // Mozilla: the client chooses the cipher (every offered suite is strong).
            SSL_CTX_clear_options(ctx, AXN_SSL_OP_CIPHER_SERVER_PREFERENCE)
            let sid: [UInt8] = Array("axinova-mcp".utf8)
            _ = SSL_CTX_set_session_id_context(ctx, sid, UInt32(sid.count))
            if s.sessionTickets {
                _ = SSL_CTX_set_num_tickets(ctx, 1)
                // A ticket expires an hour after it was issued (its lifetime hint too), whenever
                // the keys that sealed it are rotated: OpenSSL's default of two hours outlived
                // the rotation, and a slow poll or failed rebuild kept keys longer still.
                _ = SSL_CTX_set_timeout(ctx, Self.ticketLifetimeSeconds)
            } else {
                SSL_CTX_set_options(ctx, AXN_SSL_OP_NO_TICKET)
                _ = SSL_CTX_set_num_tickets(ctx, 0)
            }
            // No server-side session cache, tickets or not: tickets need none, and with one a
            // TLS 1.2 client that leaves out the ticket extension had its session kept (up to
            // 20,480 of them, two hours each, client chains included), in every context a live
            // connection still holds after a reload, where nothing flushes them.
            _ = axn_SSL_CTX_set_session_cache_mode_off(ctx)
            // Serve exactly the chain file. Without this, a leaf-only file makes OpenSSL build a
            // chain from the verify store on every handshake (an X509_verify_cert per connection),
            // and with mTLS that store is the client CA bundle, whose certificates would be sent.
            _ = axn_SSL_CTX_set_mode(ctx, AXN_SSL_MODE_NO_AUTO_CHAIN)
            try loadIdentity(ctx, chain: s.certificateChainFile, key: s.privateKeyFile)
            try configureClientAuth(ctx, mode: s.clientAuth, caFile: s.clientCAFile)
            // A client's Certificate message is parsed, and its chain kept with the session,
            // whatever the verify depth: OpenSSL allows 100 KiB; a leaf and 4 intermediates
            // of RSA-4096 take about 10 KiB.
            _ = SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MAX_CERT_LIST, Self.maxClientCertificateBytes, nil)
            SSL_CTX_set_alpn_select_cb(ctx, alpnSelectHTTP11, nil)
        } catch {
            SSL_CTX_free(ctx)
            throw error
        }
        let notAfter = Self.notAfter(of: SSL_CTX_get0_certificate(ctx))
        return TLSContext(ctx: ctx, isServer: true, notAfter: notAfter, settings: s)
    }

    /// Builds a client context that verifies the server's chain against `caFile`
    /// (nil: the system's default CA paths) and offers ALPN `http/1.1`.
    /// Host name verification and SNI are per connection (`TLSRole.client(serverName:)`).
    /// `clientCertificate` is presented when a server asks for one (mTLS).
    public static func client(
        caFile: String? = nil,
        verifyPeer: Bool = true,
        profile: TLSProfile = .intermediate,
        clientCertificate: (chain: String, key: String)? = nil
    ) throws(TLSError) -> TLSContext {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else {
            throw .drainingQueue(.contextSetup, fallback: "SSL_CTX_new failed")
        }
        do throws(TLSError) {
            try applyCommon(ctx, profile: profile)
            if verifyPeer {
                SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
                if let caFile {
                    try checkReadable(caFile)
                    guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else {
                        throw TLSError.drainingQueue(.fileUnreadable, fallback: "cannot load CA bundle", file: caFile)
                    }
                    // A certificate the operator put in the file is trusted as it is, as curl
                    // does: a file holding a backend's intermediate (or its own certificate)
                    // used to fail for want of the root above it.
                    _ = X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx), UInt(X509_V_FLAG_PARTIAL_CHAIN))
                } else if SSL_CTX_set_default_verify_paths(ctx) != 1 {
                    throw TLSError.drainingQueue(.contextSetup, fallback: "cannot load the system CA paths")
                }
            } else {
                SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
            }
            if let clientCertificate {
                try loadIdentity(ctx, chain: clientCertificate.chain, key: clientCertificate.key)
            }
            // Wire format: length-prefixed protocol names. Note: returns 0 on success.
            let alpn: [UInt8] = [8] + Array("http/1.1".utf8)
            guard SSL_CTX_set_alpn_protos(ctx, alpn, UInt32(alpn.count)) == 0 else {
                throw TLSError.drainingQueue(.contextSetup, fallback: "cannot set ALPN")
            }
        } catch {
            SSL_CTX_free(ctx)
            throw error
        }
        return TLSContext(ctx: ctx, isServer: false, notAfter: nil, settings: nil)
    }

    // MARK: - Building blocks

    private static func applyCommon(_ ctx: OpaquePointer, profile: TLSProfile) throws(TLSError) {
        let minVersion = profile == .modern ? TLS1_3_VERSION : TLS1_2_VERSION
        guard axn_SSL_CTX_set_min_proto_version(ctx, minVersion) == 1,
            axn_SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1
        else { throw .drainingQueue(.contextSetup, fallback: "cannot set protocol versions") }
        guard SSL_CTX_set_cipher_list(ctx, intermediateCiphers) == 1,
            SSL_CTX_set_ciphersuites(ctx, tls13Suites) == 1
        else { throw .drainingQueue(.contextSetup, fallback: "cannot set cipher suites") }
        guard axn_SSL_CTX_set1_groups_list(ctx, groups) == 1 else {
            throw .drainingQueue(.contextSetup, fallback: "cannot set groups \(groups)")
        }
        // No compression (CRIME), no renegotiation at all (client- or server-initiated).
        SSL_CTX_set_options(ctx, AXN_SSL_OP_NO_COMPRESSION | AXN_SSL_OP_NO_RENEGOTIATION)
        // Release the 2 x ~17 KiB record buffers of idle connections (48 KiB -> 16 KiB measured).
        // Moving write buffers: a retried SSL_write may come from a different ByteBuffer address.
        _ = axn_SSL_CTX_set_mode(ctx, AXN_SSL_MODE_RELEASE_BUFFERS | AXN_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER)
    }

    private static func loadIdentity(_ ctx: OpaquePointer, chain: String, key: String) throws(TLSError) {
        try checkReadable(chain)
        try checkReadable(key)
        guard SSL_CTX_use_certificate_chain_file(ctx, chain) == 1 else {
            throw .drainingQueue(.fileUnreadable, fallback: "cannot load certificate chain", file: chain)
        }
        // An encrypted key would make OpenSSL prompt on the terminal, blocking start or a
        // reload thread: no passphrase is given, so it fails with a clear error instead.
        SSL_CTX_set_default_passwd_cb(ctx, refusePassphrase)
        guard SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1 else {
            // OpenSSL already compares the key with the certificate here.
            var error = TLSError.drainingQueue(.fileUnreadable, fallback: "cannot load private key", file: key)
            if isEncryptedKey(key) {
                error.reason = "the private key is encrypted; give an unencrypted one (no passphrase is asked for): " + error.reason
            }
            if error.openSSLReasonCode == X509_R_KEY_VALUES_MISMATCH || error.openSSLReasonCode == X509_R_KEY_TYPE_MISMATCH {
                error.kind = .keyMismatch
                error.reason = "private key \(key) does not match the certificate in \(chain): " + error.reason
            }
            throw error
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            throw .drainingQueue(
                .keyMismatch,
                fallback: "private key \(key) does not match the certificate in \(chain)",
                file: key
            )
        }
    }

    private static func configureClientAuth(
        _ ctx: OpaquePointer, mode: ClientAuthMode, caFile: String?
    ) throws(TLSError) {
        guard mode != .off else { return }
        guard let caFile else {
            throw TLSError(kind: .contextSetup, reason: "client auth \(mode.rawValue) needs a client CA file")
        }
        try checkReadable(caFile)
        guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else {
            throw .drainingQueue(.fileUnreadable, fallback: "cannot load client CA bundle", file: caFile)
        }
        // The CA names sent in CertificateRequest so clients pick the right certificate.
        if let names = SSL_load_client_CA_file(caFile) {
            SSL_CTX_set_client_CA_list(ctx, names)
        }
        ERR_clear_error()
        var flags = SSL_VERIFY_PEER
        if mode == .required { flags |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT }
        SSL_CTX_set_verify(ctx, flags, nil)
        // A client chain longer than leaf + 4 intermediates is not one we issued; OpenSSL's
        // default of 100 would let a client make each handshake verify a long chain.
        SSL_CTX_set_verify_depth(ctx, Self.clientChainDepth)
    }

    /// How long a session ticket resumes (`SSL_CTX_set_timeout`): the ticket keys' lifetime.
    public static let ticketLifetimeSeconds = 3600

    /// The session timeout OpenSSL applies to this context's sessions and tickets, in seconds.
    public var sessionTimeoutSeconds: Int { Int(SSL_CTX_get_timeout(ctx)) }

    /// The largest Certificate message a client may send (`SSL_CTX_set_max_cert_list`).
    static let maxClientCertificateBytes = 32 * 1024

    /// Intermediates allowed between a client's certificate and the CA (`SSL_CTX_set_verify_depth`).
    static let clientChainDepth: Int32 = 4

    /// Gives "no such file" / "permission denied" in our words before OpenSSL's terser ones.
    static func checkReadable(_ path: String) throws(TLSError) {
        guard let f = fopen(path, "rb") else {
            let code = errno
            var error = TLSError(kind: .fileUnreadable, reason: "cannot open: " + String(cString: strerror(code)), file: path)
            // Out of descriptors or memory, or an I/O error: the file itself may be fine.
            error.isTransient = [EMFILE, ENFILE, ENOMEM, EIO, EINTR, EAGAIN].contains(code)
            throw error
        }
        fclose(f)
    }

    static func notAfter(of cert: OpaquePointer?) -> Double? {
        guard let cert else { return nil }
        return seconds(X509_get0_notAfter(cert))
    }

    static func notBefore(of cert: OpaquePointer?) -> Double? {
        guard let cert else { return nil }
        return seconds(X509_get0_notBefore(cert))
    }

    /// The SHA-256 of a certificate's DER encoding (RFC 8705's `x5t#S256`, and what
    /// `openssl x509 -fingerprint -sha256` prints).
    static func sha256(of cert: OpaquePointer) -> [UInt8]? {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(cert, EVP_sha256(), &digest, &length) == 1, length == 32 else {
            ERR_clear_error()
            return nil
        }
        return Array(digest.prefix(32))
    }

    /// The SHA-256 of the first certificate in a PEM file (for `auth.tokens[].client_cert_sha256`).
    public static func certificateSHA256(ofFile path: String) throws(TLSError) -> [UInt8] {
        guard let bio = BIO_new_file(path, "r") else {
            throw TLSError.drainingQueue(.fileUnreadable, fallback: "cannot open the file", file: path)
        }
        defer { BIO_free(bio) }
        guard let certificate = PEM_read_bio_X509(bio, nil, nil, nil) else {
            throw TLSError.drainingQueue(.fileUnreadable, fallback: "no PEM certificate in the file", file: path)
        }
        defer { X509_free(certificate) }
        guard let digest = sha256(of: certificate) else {
            throw TLSError(kind: .fileUnreadable, reason: "cannot hash the certificate", file: path)
        }
        return digest
    }

    /// The leaf's validity window, for the reload check (nil for a client context).
    var certificateNotBefore: Double? { isServer ? Self.notBefore(of: SSL_CTX_get0_certificate(ctx)) : nil }

    private static func seconds(_ time: UnsafePointer<ASN1_TIME>?) -> Double? {
        guard let time else { return nil }
        var tm = tm()
        guard ASN1_TIME_to_tm(time, &tm) == 1 else { return nil }
        return Double(timegm(&tm))
    }
}

/// Passphrase callback for encrypted keys: none is given (0 bytes).
private func refusePassphrase(
    _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int32, _ rwflag: Int32, _ userdata: UnsafeMutableRawPointer?
) -> Int32 {
    0
}

/// Whether a PEM key file is passphrase-protected (PKCS#8 `ENCRYPTED PRIVATE KEY`, or the
/// traditional `Proc-Type: 4,ENCRYPTED` header), from its first 4 KiB.
private func isEncryptedKey(_ path: String) -> Bool {
    guard let file = fopen(path, "r") else { return false }
    defer { fclose(file) }
    var bytes = [UInt8](repeating: 0, count: 4096)
    let count = fread(&bytes, 1, bytes.count, file)
    let text = String(decoding: bytes.prefix(count), as: UTF8.self)
    return text.contains("ENCRYPTED PRIVATE KEY-----") || text.contains("Proc-Type: 4,ENCRYPTED")
}

/// ALPN selection (RFC 7301 §3.2): the server speaks only HTTP/1.1. A client that offers ALPN
/// without `http/1.1` gets a fatal `no_application_protocol` alert; one that offers no ALPN at
/// all is served HTTP/1.1 as before ALPN existed.
private func alpnSelectHTTP11(
    _ ssl: OpaquePointer?,
    _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
    _ outLength: UnsafeMutablePointer<UInt8>?,
    _ input: UnsafePointer<UInt8>?,
    _ inputLength: UInt32,
    _ arg: UnsafeMutableRawPointer?
) -> Int32 {
    guard let input, let out, let outLength else { return SSL_TLSEXT_ERR_NOACK }
    let wanted: [UInt8] = Array("http/1.1".utf8)
    var index = 0
    let total = Int(inputLength)
    while index < total {
        let length = Int(input[index])
        let start = index + 1
        guard length > 0, start + length <= total else { return SSL_TLSEXT_ERR_ALERT_FATAL }
        if length == wanted.count, (0..<length).allSatisfy({ input[start + $0] == wanted[$0] }) {
            out.pointee = input + start
            outLength.pointee = UInt8(length)
            return SSL_TLSEXT_ERR_OK
        }
        index = start + length
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL
}
