import COpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Development certificates: a local CA and a server certificate for localhost, 127.0.0.1 and
/// ::1 (ECDSA P-256, SHA-256), made with OpenSSL's API (no `openssl` CLI needed at run time).
///
/// For the embedded default run on loopback only. `certs/make-dev-certs.sh` makes the same
/// files with the CLI for humans.
public enum DevCertificates {
    /// File names inside the directory.
    public static let caFileName = "ca.pem"
    public static let caKeyFileName = "ca-key.pem"
    public static let chainFileName = "server.pem"
    public static let keyFileName = "server-key.pem"

    /// Returns the paths of the server chain, server key and CA, creating all four files (and
    /// the directory, with its parents) if any of the three is missing or the server
    /// certificate expires within a day. Keys are written mode 0600; files appear atomically
    /// (temp + rename).
    public static func ensure(
        directory: String, validityDays: Int = 365
    ) throws(TLSError) -> (chain: String, key: String, ca: String) {
        let chain = directory + "/" + chainFileName
        let key = directory + "/" + keyFileName
        let ca = directory + "/" + caFileName
        if [chain, key, ca].allSatisfy({ (path: String) in access(path, R_OK) == 0 }),
           let notAfter = notAfter(ofFile: chain), notAfter > Double(time(nil)) + 86_400,
           isConsistent(chain: chain, key: key, ca: ca) {
            return (chain, key, ca)
        }
        try makeDirectory(directory)
        let authority = try CertificateAuthority.make(commonName: "axinova-mcp dev CA", validityDays: validityDays * 2)
        let server = try authority.issue(
            commonName: "localhost",
            subjectAltNames: "DNS:localhost,IP:127.0.0.1,IP:::1",
            extendedKeyUsage: "serverAuth",
            validityDays: validityDays
        )
        try writePEM(privateKey: authority.key, to: directory + "/" + caKeyFileName)
        try writePEM(certificate: authority.certificate, to: ca)
        try writePEM(privateKey: server.key, to: key)
        try writePEM(certificate: server.certificate, to: chain)
        return (chain, key, ca)
    }

    /// `mkdir -p`: the default directory (`certs/out`) is relative to wherever the server
    /// was started, which need not hold a `certs` directory.
    static func makeDirectory(_ path: String) throws(TLSError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw TLSError(kind: .certificateGeneration, reason: "mkdir: " + String(cString: strerror(errno)), file: prefix)
            }
            prefix += "/"
        }
    }

    /// Whether the key belongs to the server certificate and the CA signed it. Two first
    /// runs at once in one directory (or one stopped between its renames) could leave one
    /// run's key beside the other's certificate: every later start then failed on the
    /// mismatch, for the year the certificate was valid. Such a set is made anew.
    static func isConsistent(chain: String, key: String, ca: String) -> Bool {
        defer { ERR_clear_error() }
        guard let leaf = readCertificate(chain) else { return false }
        defer { X509_free(leaf) }
        guard let authority = readCertificate(ca) else { return false }
        defer { X509_free(authority) }
        guard let bio = BIO_new_file(key, "r") else { return false }
        defer { BIO_free(bio) }
        guard let privateKey = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else { return false }
        defer { EVP_PKEY_free(privateKey) }
        guard X509_check_private_key(leaf, privateKey) == 1, let authorityKey = X509_get0_pubkey(authority) else { return false }
        return X509_verify(leaf, authorityKey) == 1
    }

    /// The first certificate in a PEM file (the caller frees it); nil if it cannot be read.
    static func readCertificate(_ path: String) -> OpaquePointer? {
        guard let bio = BIO_new_file(path, "r") else {
            ERR_clear_error()
            return nil
        }
        defer { BIO_free(bio) }
        return PEM_read_bio_X509(bio, nil, nil, nil)
    }

    /// The notAfter of the first certificate in a PEM file; nil if it cannot be read.
    static func notAfter(ofFile path: String) -> Double? {
        guard let bio = BIO_new_file(path, "r") else {
            ERR_clear_error()
            return nil
        }
        defer { BIO_free(bio) }
        guard let certificate = PEM_read_bio_X509(bio, nil, nil, nil) else {
            ERR_clear_error()
            return nil
        }
        defer { X509_free(certificate) }
        return TLSContext.notAfter(of: certificate)
    }

    static func writePEM(certificate: X509Object, to path: String) throws(TLSError) {
        try writeAtomically(path, mode: 0o644) { bio in PEM_write_bio_X509(bio, certificate.pointer) == 1 }
    }

    static func writePEM(privateKey: PrivateKey, to path: String) throws(TLSError) {
        try writeAtomically(path, mode: 0o600) { bio in
            PEM_write_bio_PrivateKey(bio, privateKey.pointer, nil, nil, 0, nil, nil) == 1
        }
    }

    private static func writeAtomically(
        _ path: String, mode: mode_t, _ body: (OpaquePointer) -> Bool
    ) throws(TLSError) {
        let temporary = path + ".tmp-\(getpid())"
        // Created anew with the final mode (a key is never readable by others, even briefly),
        // and written through this descriptor: a file or symbolic link planted at the name
        // (the pid is predictable) is replaced, never written through.
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw TLSError(kind: .certificateGeneration, reason: "open: " + String(cString: strerror(errno)), file: path)
        }
        ERR_clear_error()
        guard let bio = BIO_new_fd(fd, BIO_CLOSE) else {
            close(fd)
            unlink(temporary)
            throw .drainingQueue(.certificateGeneration, fallback: "cannot write", file: path)
        }
        let ok = body(bio)
        BIO_free_all(bio)
        guard ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw .drainingQueue(.certificateGeneration, fallback: "cannot write PEM", file: path)
        }
    }
}

/// Owns an `EVP_PKEY*`.
final class PrivateKey {
    let pointer: OpaquePointer
    init(pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }

    static func ecP256() throws(TLSError) -> PrivateKey {
        ERR_clear_error()
        guard let key = axn_EVP_EC_gen("P-256") else {
            throw .drainingQueue(.certificateGeneration, fallback: "EC P-256 key generation failed")
        }
        return PrivateKey(pointer: key)
    }
}

/// Owns an `X509*`.
final class X509Object {
    let pointer: OpaquePointer
    init(pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_free(pointer) }
}

/// A CA key and self-signed certificate that can issue leaf certificates.
struct CertificateAuthority {
    let key: PrivateKey
    let certificate: X509Object

    static func make(commonName: String, validityDays: Int) throws(TLSError) -> CertificateAuthority {
        let key = try PrivateKey.ecP256()
        let cert = try buildCertificate(
            commonName: commonName, key: key, issuer: nil, validityDays: validityDays,
            extensions: [
                (NID_basic_constraints, "critical,CA:TRUE,pathlen:0"),
                (NID_key_usage, "critical,keyCertSign,cRLSign"),
                (NID_subject_key_identifier, "hash"),
            ]
        )
        return CertificateAuthority(key: key, certificate: cert)
    }

    /// Issues a leaf certificate with a fresh P-256 key.
    func issue(
        commonName: String, subjectAltNames: String?, extendedKeyUsage: String, validityDays: Int
    ) throws(TLSError) -> (key: PrivateKey, certificate: X509Object) {
        let leafKey = try PrivateKey.ecP256()
        var extensions: [(Int32, String)] = [
            (NID_basic_constraints, "critical,CA:FALSE"),
            (NID_key_usage, "critical,digitalSignature"),
            (NID_ext_key_usage, extendedKeyUsage),
            (NID_subject_key_identifier, "hash"),
            (NID_authority_key_identifier, "keyid:always"),
        ]
        if let subjectAltNames { extensions.append((NID_subject_alt_name, subjectAltNames)) }
        let cert = try CertificateAuthority.buildCertificate(
            commonName: commonName, key: leafKey, issuer: self, validityDays: validityDays, extensions: extensions)
        return (leafKey, cert)
    }

    private static func buildCertificate(
        commonName: String, key: PrivateKey, issuer: CertificateAuthority?, validityDays: Int,
        extensions: [(Int32, String)]
    ) throws(TLSError) -> X509Object {
        ERR_clear_error()
        guard let x509 = X509_new() else {
            throw .drainingQueue(.certificateGeneration, fallback: "X509_new failed")
        }
        let cert = X509Object(pointer: x509)
        var serial: Int = 0
        _ = withUnsafeMutableBytes(of: &serial) { RAND_bytes($0.baseAddress!.assumingMemoryBound(to: UInt8.self), 8) }
        serial = (serial & Int.max) | 1
        guard X509_set_version(x509, 2) == 1,  // v3
            ASN1_INTEGER_set(X509_get_serialNumber(x509), serial) == 1,
            X509_gmtime_adj(X509_getm_notBefore(x509), -3600) != nil,
            X509_gmtime_adj(X509_getm_notAfter(x509), validityDays * 86_400) != nil,
            X509_set_pubkey(x509, key.pointer) == 1,
            X509_NAME_add_entry_by_txt(X509_get_subject_name(x509), "CN", MBSTRING_ASC, commonName, -1, -1, 0) == 1,
            X509_set_issuer_name(x509, X509_get_subject_name(issuer?.certificate.pointer ?? x509)) == 1
        else { throw .drainingQueue(.certificateGeneration, fallback: "cannot fill certificate \(commonName)") }

        var v3 = X509V3_CTX()
        X509V3_set_ctx(&v3, issuer?.certificate.pointer ?? x509, x509, nil, nil, 0)
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &v3, nid, value) else {
                throw .drainingQueue(.certificateGeneration, fallback: "bad extension \(value)")
            }
            let added = X509_add_ext(x509, ext, -1)
            X509_EXTENSION_free(ext)
            guard added == 1 else { throw .drainingQueue(.certificateGeneration, fallback: "cannot add \(value)") }
        }
        guard X509_sign(x509, (issuer?.key ?? key).pointer, EVP_sha256()) > 0 else {
            throw .drainingQueue(.certificateGeneration, fallback: "cannot sign \(commonName)")
        }
        return cert
    }
}
