import Crypto
import Foundation

/// HMAC-SHA256 over `"TIMESTAMP.BODY"` with the shared secret, sent as `X-Changegate-Signature: sha256=<hex>`.
/// Signing the timestamp with the body is what makes an old request unusable once it is outside the window.
public struct WebhookSignature: Sendable {
    public static let timestampHeader = "X-Changegate-Timestamp"
    public static let signatureHeader = "X-Changegate-Signature"
    static let prefix = "sha256="

    /// The key's bytes: `SymmetricKey` is not `Sendable`, so one is made per use (cheap: it copies 32+ bytes).
    private let secret: [UInt8]

    public init(secret: String) { self.secret = Array(secret.utf8) }

    private var key: SymmetricKey { SymmetricKey(data: secret) }

    /// The header value for `body` sent at `timestamp` (unix seconds, as written in the timestamp header).
    public func sign(body: [UInt8], timestamp: String) -> String {
        Self.prefix + HMAC<SHA256>.authenticationCode(for: Self.signed(body, timestamp), using: key).map { Self.hex($0) }.joined()
    }

    /// Whether `header` is the signature of `body` at `timestamp`. The comparison is swift-crypto's, in constant
    /// time, so a forger learns nothing from how long a refusal takes.
    public func isValid(_ header: String, body: [UInt8], timestamp: String) -> Bool {
        guard header.hasPrefix(Self.prefix), let mac = Self.bytes(hex: header.dropFirst(Self.prefix.count)), mac.count == 32 else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Self.signed(body, timestamp), using: key)
    }

    static func signed(_ body: [UInt8], _ timestamp: String) -> [UInt8] { Array("\(timestamp).".utf8) + body }

    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xf)]], as: UTF8.self)
    }

    static func bytes(hex: Substring) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
        }
        return out
    }
}
