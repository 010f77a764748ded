/// The SHA-256 of a client certificate's DER encoding: what a certificate-bound token names
/// as the one certificate it may be presented with (RFC 8705 §3.1 calls it `x5t#S256`).
///
/// Configuration gives it as `sha256:<64 hex digits>`, or as the colon-separated pairs that
/// `openssl x509 -noout -fingerprint -sha256` prints (with or without the `sha256:` prefix);
/// hex digits in either case. Not a secret: a certificate is public, and only its holder has
/// the private key that a handshake proves.
public struct CertificateThumbprint: Hashable, Sendable, CustomStringConvertible {
    /// Exactly 32 bytes.
    public let bytes: [UInt8]

    public static let byteCount = 32

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = Array(bytes)
    }

    public init?(parsing text: some StringProtocol) {
        var utf8 = Substring(text).utf8[...]
        if utf8.starts(with: "sha256:".utf8) { utf8 = utf8.dropFirst(7) }
        var digits = Array(utf8)
        // AB:CD:…: every third character a colon, and nothing else.
        if digits.count == 3 * Self.byteCount - 1 {
            guard digits.indices.allSatisfy({ ($0 % 3 == 2) == (digits[$0] == UInt8(ascii: ":")) }) else { return nil }
            digits.removeAll { $0 == UInt8(ascii: ":") }
        }
        guard digits.count == 2 * Self.byteCount else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.byteCount)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = TokenDigest.hexValue(digits[index]), let low = TokenDigest.hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self.bytes = bytes
    }

    /// `sha256:<hex>`, the configuration form: a token digest's, whose writer it shares.
    public var description: String {
        TokenDigest(bytes: bytes)!.configurationText
    }
}
