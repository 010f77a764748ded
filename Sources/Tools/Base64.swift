/// Standard base64 (RFC 4648 section 4, with padding), for `Authorization: Basic`.
enum Base64 {
    static func encode(_ bytes: some Collection<UInt8>) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        let input = Array(bytes)
        var out = [UInt8]()
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var i = 0
        while i < input.count {
            let b0 = Int(input[i])
            let b1 = i + 1 < input.count ? Int(input[i + 1]) : 0
            let b2 = i + 2 < input.count ? Int(input[i + 2]) : 0
            out.append(alphabet[b0 >> 2])
            out.append(alphabet[(b0 & 0x03) << 4 | b1 >> 4])
            out.append(i + 1 < input.count ? alphabet[(b1 & 0x0F) << 2 | b2 >> 6] : UInt8(ascii: "="))
            out.append(i + 2 < input.count ? alphabet[b2 & 0x3F] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func basicAuthorization(user: String, password: String) -> String {
        "Basic " + encode(Array("\(user):\(password)".utf8))
    }
}
