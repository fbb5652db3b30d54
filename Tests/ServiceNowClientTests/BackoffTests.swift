import Foundation
import NIOHTTP1
import Testing
@testable import ServiceNowClient

@Suite struct BackoffTests {
    let policy = RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(500), maxDelay: .seconds(30), jitter: true)

    @Test func exponentialCeilingIsCapped() {
        #expect(policy.ceiling(forRetry: 1) == .milliseconds(500))
        #expect(policy.ceiling(forRetry: 2) == .seconds(1))
        #expect(policy.ceiling(forRetry: 3) == .seconds(2))
        #expect(policy.ceiling(forRetry: 7) == .seconds(30))
        #expect(policy.ceiling(forRetry: 1000) == .seconds(30))
    }

    @Test func fullJitterStaysBetweenZeroAndCeiling() {
        #expect(policy.delay(forRetry: 3, unit: 0) == .zero)
        #expect(policy.delay(forRetry: 3, unit: 0.5) == .seconds(1))
        for retry in 1...10 {
            let d = policy.delay(forRetry: retry)
            #expect(d >= .zero && d <= policy.ceiling(forRetry: retry))
        }
        var fixed = policy
        fixed.jitter = false
        #expect(fixed.delay(forRetry: 2, unit: 0.1) == .seconds(1))
        #expect(RetryPolicy.default == RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(500), maxDelay: .seconds(30), jitter: true))
    }

    @Test func rateLimitWaitsAtLeastWhatTheServerAsks() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(policy.rateLimitDelay(forRetry: 1, retryAfter: .seconds(1), resetAt: nil, now: now, unit: 0) == .seconds(1))
        // Reset later than Retry-After wins; only a reset given also counts.
        #expect(policy.rateLimitDelay(forRetry: 1, retryAfter: .seconds(1), resetAt: now + 5, now: now, unit: 0) == .seconds(5))
        #expect(policy.rateLimitDelay(forRetry: 1, retryAfter: nil, resetAt: now + 3, now: now, unit: 0) == .seconds(3))
        // A reset in the past does not shorten the backoff.
        #expect(policy.rateLimitDelay(forRetry: 4, retryAfter: nil, resetAt: now - 100, now: now, unit: 1) == .seconds(4))
    }

    @Test func parsesRateLimitHeaders() {
        var h = HTTPHeaders()
        h.add(name: "Retry-After", value: "7")
        h.add(name: "X-RateLimit-Reset", value: "1700000000")
        #expect(ServiceNowClient.retryAfter(h) == .seconds(7))
        #expect(ServiceNowClient.rateLimitReset(h) == Date(timeIntervalSince1970: 1_700_000_000))
        let date = HTTPHeaders([("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")])
        #expect(ServiceNowClient.retryAfter(date) == .zero)  // in the past
        #expect(HTTPDate.parse("Wed, 21 Oct 2015 07:28:00 GMT") == Date(timeIntervalSince1970: 1_445_412_480))
        #expect(ServiceNowClient.retryAfter([:]) == nil)
    }

    @Test func tokenIsRenewedBeforeExpiry() {
        let t0 = ContinuousClock.now
        let long = AccessToken(value: Secret("a"), refreshToken: nil, lifetime: .seconds(1800), obtainedAt: t0)
        #expect(long.renewAt == t0 + .seconds(1740))
        let short = AccessToken(value: Secret("a"), refreshToken: nil, lifetime: .seconds(5), obtainedAt: t0)
        #expect(short.renewAt == t0 + .seconds(4))
        #expect(short.expiresAt == t0 + .seconds(5))
    }
}
