@testable import ChangeWebhook
import Foundation
import Testing

let secret = "0123456789abcdef0123456789abcdef"
let notice = ChangeNotification(sysID: "0123456789abcdef0123456789abcdef", number: "CHG0030001")
let sentAt = 1_700_000_000

/// A verifier whose clock the test sets.
func verifier(now: Int = sentAt, skew: Duration = .seconds(300), capacity: Int = 1000) -> WebhookVerifier {
    WebhookVerifier(secret: secret, maxSkew: skew, replayCapacity: capacity, now: { Date(timeIntervalSince1970: TimeInterval(now)) })
}

/// Headers of a request signed with `key` at `timestamp`.
func signed(_ body: [UInt8], at timestamp: Int = sentAt, key: String = secret) -> [String: String] {
    ["x-changegate-timestamp": "\(timestamp)",
     "x-changegate-signature": WebhookSignature(secret: key).sign(body: body, timestamp: "\(timestamp)")]
}

func check(_ v: WebhookVerifier, _ body: [UInt8], _ headers: [String: String]) -> Result<ChangeNotification, WebhookRejection> {
    Result { () throws(WebhookRejection) -> ChangeNotification in try v.verify(body: body) { headers[$0.lowercased()] } }
}

@Suite struct SignatureTests {
    /// The vector was computed with Python's hmac module, independently of swift-crypto.
    @Test func matchesAnIndependentHMAC() {
        #expect(WebhookSignature(secret: secret).sign(body: notice.body, timestamp: "1700000000")
            == "sha256=325db3853526bbe1490e8054b02e3feeb45e21af89c4651da163feaf9f4c42a2")
    }

    @Test func acceptsItsOwnSignatureOnly() {
        let s = WebhookSignature(secret: secret)
        let good = s.sign(body: notice.body, timestamp: "1700000000")
        #expect(s.isValid(good, body: notice.body, timestamp: "1700000000"))
        #expect(s.isValid(good.uppercased().replacingOccurrences(of: "SHA256=", with: "sha256="), body: notice.body, timestamp: "1700000000"))
        #expect(!s.isValid(good, body: notice.body, timestamp: "1700000001"))
        #expect(!s.isValid(good, body: notice.body + [0x20], timestamp: "1700000000"))
        #expect(!s.isValid(String(good.dropFirst(7)), body: notice.body, timestamp: "1700000000"))
        #expect(!s.isValid(good + "00", body: notice.body, timestamp: "1700000000"))
        #expect(!s.isValid("sha256=zz", body: notice.body, timestamp: "1700000000"))
        #expect(!WebhookSignature(secret: secret + "x").isValid(good, body: notice.body, timestamp: "1700000000"))
    }
}

@Suite struct VerifierTests {
    @Test func acceptsASignedNotification() throws {
        #expect(try check(verifier(), notice.body, signed(notice.body)).get() == notice)
    }

    @Test func refusesMissingHeaders() {
        var headers = signed(notice.body)
        headers["x-changegate-signature"] = nil
        #expect(check(verifier(), notice.body, headers).failure?.reason == "unsigned")
        #expect(check(verifier(), notice.body, [:]).failure?.reason == "unsigned")
        #expect(check(verifier(), notice.body, ["x-changegate-signature": "sha256=00"]).failure?.reason == "unsigned")
        var bad = signed(notice.body)
        bad["x-changegate-timestamp"] = "soon"
        #expect(check(verifier(), notice.body, bad).failure?.reason == "unsigned")
    }

    @Test func refusesAWrongSecret() {
        let r = check(verifier(), notice.body, signed(notice.body, key: "another secret of 32 bytes or more!"))
        #expect(r.failure == .forged)
        #expect(r.failure?.httpStatus == 401)
        #expect(!(r.failure?.description.contains(secret) ?? true))
    }

    @Test func refusesAnAlteredBody() {
        let other = ChangeNotification(sysID: notice.sysID, number: "CHG0030002").body
        #expect(check(verifier(), other, signed(notice.body)).failure == .forged)
    }

    @Test(arguments: [(-301, false), (-300, true), (0, true), (300, true), (301, false)])
    func skewIsBounded(offset: Int, accepted: Bool) {
        let r = check(verifier(now: sentAt + offset), notice.body, signed(notice.body))
        #expect((r.failure == nil) == accepted)
        if !accepted { #expect(r.failure == .stale(skewSeconds: abs(offset), allowed: 300)) }
    }

    @Test func skewIsConfigurable() {
        #expect(check(verifier(now: sentAt + 20, skew: .seconds(10)), notice.body, signed(notice.body)).failure?.reason == "stale")
    }

    /// Two notices about one change in the same second differ only by their timestamp's fraction.
    @Test func acceptsMillisecondTimestamps() {
        let v = verifier()
        for t in ["1700000000.120", "1700000000.121", "1700000000.5"] {
            let headers = ["x-changegate-timestamp": t, "x-changegate-signature": WebhookSignature(secret: secret).sign(body: notice.body, timestamp: t)]
            #expect(check(v, notice.body, headers).failure == nil, "\(t)")
        }
        for bad in ["1700000000.", ".5", "1700000000.1234567", "1700000000.12.3", "-1700000000", "17e8"] {
            let headers = ["x-changegate-timestamp": bad, "x-changegate-signature": WebhookSignature(secret: secret).sign(body: notice.body, timestamp: bad)]
            #expect(check(v, notice.body, headers).failure?.reason == "unsigned", "\(bad)")
        }
    }

    @Test func refusesAReplay() {
        let v = verifier()
        let headers = signed(notice.body)
        #expect(check(v, notice.body, headers).failure == nil)
        #expect(check(v, notice.body, headers).failure == .replayed)
        // The same notice sent again with a fresh timestamp is a new request.
        #expect(check(v, notice.body, signed(notice.body, at: sentAt + 1)).failure == nil)
    }

    /// A full cache drops its oldest pairs but refuses their timestamps from then on, so none is accepted twice.
    @Test func aFullReplayCacheStillRefusesEvictedPairs() {
        let v = verifier(capacity: 2)
        let first = signed(notice.body, at: sentAt - 2)
        #expect(check(v, notice.body, first).failure == nil)
        #expect(check(v, notice.body, signed(notice.body, at: sentAt - 1)).failure == nil)
        #expect(check(v, notice.body, signed(notice.body, at: sentAt)).failure == nil)  // evicts the first
        #expect(check(v, notice.body, first).failure == .replayed)
    }

    @Test func replayCacheForgetsWhatTheWindowRefuses() {
        var cache = ReplayCache()
        for t in 0..<50 {
            let fresh = cache.insert(timestamp: t, mac: "m", oldest: 0, capacity: 100)
            #expect(fresh)
        }
        #expect(cache.count == 50)
        let later = cache.insert(timestamp: 100, mac: "m", oldest: 60, capacity: 100)
        #expect(later)
        #expect(cache.count == 1)
    }

    @Test func refusesALargeBody() {
        let big = [UInt8](repeating: 0x20, count: WebhookVerifier.maxBodyBytes + 1)
        let r = check(verifier(), big, signed(big))
        #expect(r.failure == .tooLarge(limit: 16384))
        #expect(r.failure?.httpStatus == 413)
    }

    @Test(arguments: [
        "", "[]", "not json", #"{"sys_id":"0123456789abcdef0123456789abcdef"}"#,
        #"{"sys_id":"0123456789ABCDEF0123456789ABCDEF","number":"CHG0030001"}"#,
        #"{"sys_id":"0123456789abcdef","number":"CHG0030001"}"#,
        #"{"sys_id":"0123456789abcdef0123456789abcdef","number":""}"#,
        #"{"sys_id":"0123456789abcdef0123456789abcdef","number":"CHG^ORstate=3"}"#,
        #"{"sys_id":"0123456789abcdef0123456789abcdef","number":7}"#,
        #"{"sys_id":"0123456789abcdef0123456789abcdef","number":"CHG0030001","state":"-1"}"#,
    ])
    func refusesMalformedSignedBodies(text: String) {
        let body = Array(text.utf8)
        let r = check(verifier(), body, signed(body))
        #expect(r.failure?.reason == "malformed")
        #expect(r.failure?.httpStatus == 400)
    }
}

extension Result {
    var failure: Failure? { if case .failure(let f) = self { f } else { nil } }
}
