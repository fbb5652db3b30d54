import Foundation
import Synchronization

/// Everything a request must pass before it is believed: size, headers, clock skew, signature, not seen before,
/// and the body's shape, in that order (nothing unauthenticated is parsed).
public final class WebhookVerifier: Sendable {
    public static let maxBodyBytes = 16 * 1024
    /// Enough for hundreds of updates a second inside a 300 s window; only signed requests take a place.
    public static let defaultReplayCapacity = 100_000

    let signature: WebhookSignature
    let maxSkew: Int
    let capacity: Int
    let now: @Sendable () -> Date
    private let seen: Mutex<ReplayCache>

    public init(secret: String, maxSkew: Duration = .seconds(300), replayCapacity: Int = WebhookVerifier.defaultReplayCapacity,
                now: @escaping @Sendable () -> Date = Date.init) {
        signature = WebhookSignature(secret: secret)
        self.maxSkew = Int(maxSkew.components.seconds)
        capacity = max(1, replayCapacity)
        self.now = now
        seen = Mutex(ReplayCache())
    }

    /// `headers` looks up a header by name, case-insensitively (the HTTP layer's job).
    public func verify(body: [UInt8], header: (String) -> String?) throws(WebhookRejection) -> ChangeNotification {
        guard body.count <= Self.maxBodyBytes else { throw .tooLarge(limit: Self.maxBodyBytes) }
        guard let timestamp = header(WebhookSignature.timestampHeader) else { throw .unsigned("no \(WebhookSignature.timestampHeader) header") }
        guard let mac = header(WebhookSignature.signatureHeader) else { throw .unsigned("no \(WebhookSignature.signatureHeader) header") }
        guard let sent = Self.seconds(timestamp) else {
            throw .unsigned("\(WebhookSignature.timestampHeader) is not unix seconds (such as 1700000000 or 1700000000.123)")
        }
        let clock = Int(now().timeIntervalSince1970)
        guard abs(clock - sent) <= maxSkew else { throw .stale(skewSeconds: abs(clock - sent), allowed: maxSkew) }
        guard signature.isValid(mac, body: body, timestamp: timestamp) else { throw .forged }
        let fresh = seen.withLock { $0.insert(timestamp: sent, mac: mac.lowercased(), oldest: clock - maxSkew, capacity: capacity) }
        guard fresh else { throw .replayed }
        return try ChangeNotification.parse(body)
    }

    /// Whole unix seconds, optionally with up to 6 decimals. The business rule sends milliseconds: two notices about
    /// one change within the same second would otherwise be byte for byte the same, and the second a "replay".
    static func seconds(_ text: String) -> Int? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let digits: (Substring) -> Bool = { $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }
        guard (1...12).contains(parts[0].count), digits(parts[0]) else { return nil }
        if parts.count == 2 { guard (1...6).contains(parts[1].count), digits(parts[1]) else { return nil } }
        return Int(parts[0])
    }
}

/// (timestamp, signature) pairs accepted inside the window. Entries older than the window are dropped: their
/// timestamp alone now refuses them. When full, the oldest go and `floor` rises past them, so a pair that was
/// evicted is refused as a replay rather than accepted again.
struct ReplayCache {
    private var entries: [String: Int] = [:]
    private var order: [(key: String, timestamp: Int)] = []
    private var head = 0
    private(set) var floor = Int.min

    var count: Int { entries.count }

    mutating func insert(timestamp: Int, mac: String, oldest: Int, capacity: Int) -> Bool {
        expire(before: oldest)
        guard timestamp > floor else { return false }
        let key = "\(timestamp).\(mac)"
        guard entries[key] == nil else { return false }
        if entries.count >= capacity, let evicted = evictOldest() { floor = max(floor, evicted) }
        entries[key] = timestamp
        order.append((key, timestamp))
        return true
    }

    private mutating func expire(before oldest: Int) {
        // Arrival order is close to timestamp order; an out-of-order entry simply stays a little longer.
        while head < order.count, order[head].timestamp < oldest {
            entries[order[head].key] = nil
            head += 1
        }
        compact()
    }

    private mutating func evictOldest() -> Int? {
        guard head < order.count else { return nil }
        let (key, timestamp) = order[head]
        entries[key] = nil
        head += 1
        compact()
        return timestamp
    }

    private mutating func compact() {
        if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
