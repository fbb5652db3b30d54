/// Why a notification was refused. The text is what the sender's operator should fix; it never holds the
/// secret, a signature or the body.
public enum WebhookRejection: Error, Sendable, Equatable, CustomStringConvertible {
    /// A header is missing or not in its format.
    case unsigned(String)
    /// The signature does not match the body and timestamp: a wrong secret, or a forged or altered request.
    case forged
    /// The timestamp is too far from this host's clock.
    case stale(skewSeconds: Int, allowed: Int)
    /// This timestamp and signature were accepted before.
    case replayed
    case tooLarge(limit: Int)
    case malformed(String)

    public var httpStatus: Int {
        switch self {
        case .unsigned, .forged, .stale, .replayed: 401
        case .tooLarge: 413
        case .malformed: 400
        }
    }

    /// The label rejections are counted and rate-limited by.
    public var reason: String {
        switch self {
        case .unsigned: "unsigned"
        case .forged: "forged"
        case .stale: "stale"
        case .replayed: "replayed"
        case .tooLarge: "too_large"
        case .malformed: "malformed"
        }
    }

    public var description: String {
        switch self {
        case .unsigned(let what):
            "unsigned: \(what); the sender must set X-Changegate-Timestamp (unix seconds, with milliseconds) and X-Changegate-Signature: sha256=<hex HMAC-SHA256 of \"TIMESTAMP.BODY\">"
        case .forged:
            "forged: the signature does not match; check that the sender and changegate use the same webhook secret and sign the raw body"
        case .stale(let skew, let allowed):
            "stale: the timestamp is \(skew) s from this host's clock (at most \(allowed) s allowed); check both clocks (NTP) or raise webhook_max_skew"
        case .replayed:
            "replayed: this timestamp and signature were already accepted; each notification must be sent with a fresh timestamp"
        case .tooLarge(let limit):
            "too large: the body is over \(limit) bytes; send only {\"sys_id\", \"number\"}"
        case .malformed(let what):
            "malformed: \(what)"
        }
    }
}
