import CoreMetrics
import Foundation

/// One ServiceNow instance as changegate talks to it.
public struct ConnectionConfiguration: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Operator-facing name of the connection; every error names it.
    public var name: String
    /// Instance root, e.g. `https://acme.service-now.com` (no path, no trailing slash needed).
    public var baseURL: String
    public var credentials: Credentials
    /// PEM file of extra CA certificates trusted in addition to the system roots.
    public var caBundlePath: String?
    /// Upper bound of one HTTP attempt (connect, send, full answer).
    public var requestTimeout: Duration
    /// At most this many HTTP requests in flight at once for this connection.
    public var maxConcurrentRequests: Int
    public var retry: RetryPolicy
    /// Changes per `numberIN…` query in `statuses(…)`.
    public var statusBatchSize: Int
    /// Where request counts and latencies go; nil: the process-wide `MetricsSystem` (a no-op unless bootstrapped).
    public var metricsFactory: (any MetricsFactory)? = nil
    /// Requests an hour the polls keep within (see `RequestBudget`).
    public var requestsPerHour: Int = 3000

    public init(
        name: String,
        baseURL: String,
        credentials: Credentials,
        caBundlePath: String? = nil,
        requestTimeout: Duration = .seconds(30),
        maxConcurrentRequests: Int = 4,
        retry: RetryPolicy = .default,
        statusBatchSize: Int = 100
    ) {
        self.name = name
        self.baseURL = baseURL
        self.credentials = credentials
        self.caBundlePath = caBundlePath
        self.requestTimeout = requestTimeout
        self.maxConcurrentRequests = maxConcurrentRequests
        self.retry = retry
        self.statusBatchSize = statusBatchSize
    }

    public var description: String {
        "connection '\(name)' (\(displayURL), \(credentials)\(caBundlePath.map { ", CA bundle \($0)" } ?? ""))"
    }

    /// `baseURL` without any `user:password@` someone may have put in it.
    var displayURL: String {
        guard var c = URLComponents(string: baseURL), c.user != nil || c.password != nil else { return baseURL }
        c.user = nil
        c.password = nil
        return c.string ?? "<base URL>"
    }

    public var debugDescription: String { description }

    /// `baseURL` without trailing slashes.
    var root: String {
        var r = baseURL.trimmingCharacters(in: .whitespaces)
        while r.hasSuffix("/") { r.removeLast() }
        return r
    }

    /// Host of `baseURL`, lowercased (for NO_PROXY matching).
    var host: String? { URL(string: root)?.host?.lowercased() }
}

/// Capped exponential backoff with full jitter for transient failures.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in total, the first included (1 = no retry).
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Full jitter: wait a random time between 0 and the capped exponential delay, so that
    /// many clients failing together do not retry in lockstep.
    public var jitter: Bool

    public init(maxAttempts: Int = 5, baseDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(30), jitter: Bool = true) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.jitter = jitter
    }

    public static let `default` = RetryPolicy()

    /// The capped exponential delay before retry number `retry` (1 = first retry), before jitter.
    public func ceiling(forRetry retry: Int) -> Duration {
        let exponent = min(max(retry - 1, 0), 30)
        let base = baseDelay.seconds * pow(2, Double(exponent))
        return .seconds(min(base, maxDelay.seconds))
    }

    /// The delay before retry number `retry`; `unit` is a random number in [0, 1) (injectable for tests).
    public func delay(forRetry retry: Int, unit: Double = Double.random(in: 0..<1)) -> Duration {
        let ceiling = ceiling(forRetry: retry)
        return jitter ? .seconds(ceiling.seconds * min(max(unit, 0), 1)) : ceiling
    }

    /// How long to wait after a 429: the jittered backoff, but never less than the server asked for
    /// (`Retry-After` seconds, or until `X-RateLimit-Reset`, whichever is later).
    public func rateLimitDelay(forRetry retry: Int, retryAfter: Duration?, resetAt: Date?, now: Date = Date(), unit: Double = Double.random(in: 0..<1)) -> Duration {
        var wait = delay(forRetry: retry, unit: unit)
        if let retryAfter, retryAfter > wait { wait = retryAfter }
        if let resetAt {
            let untilReset = Duration.seconds(resetAt.timeIntervalSince(now))
            if untilReset > wait { wait = untilReset }
        }
        return wait
    }
}

extension Duration {
    /// The duration in seconds as a Double.
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
