import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// One HTTP call as the client describes it, before authentication.
struct APIRequest: Sendable {
    enum Kind: Sendable { case read, write, token }

    var method: HTTPMethod
    /// Path from the instance root, starting with `/`, already escaped.
    var path: String
    var query: [(String, String)] = []
    var body: String? = nil
    /// A raw body (an attachment's bytes), sent when `body` is nil.
    var data: Data? = nil
    var contentType: String? = nil
    var kind: Kind
    /// What the call does, for errors: "create a normal change", "change request with sys_id …".
    var operation: String
    /// One id per logical call, sent on every attempt (`X-Changegate-Request-Id`) so retries can be traced.
    var id: String = UUID().uuidString.lowercased()

    var isWrite: Bool { kind == .write }
    var endpoint: String { "\(method.rawValue) \(path)" }
}

struct RawResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: Data
}

/// The result of one HTTP attempt, classified for the retry decision.
enum AttemptOutcome: Sendable {
    case answered(RawResponse)
    /// Provably never reached the server (connection refused, DNS, connect timeout): safe to retry any method.
    case notSent(String)
    /// TLS handshake failed: retrying will not help.
    case tlsFailure(String)
    /// Failed after the request may have been sent.
    case lost(String)
    case timedOut
    case cancelled
}

/// Sends single HTTP attempts: limits concurrency, enforces the timeout on the whole exchange, logs.
struct Transport: Sendable {
    let http: HTTPClient
    let configuration: ConnectionConfiguration
    let logger: Logger
    let limiter: ConcurrencyLimiter
    let metrics: TransportMetrics
    /// AsyncHTTPClient gets a silent logger: at trace level it would log request details.
    private let quietLogger = Logger(label: "changegate.servicenow.ahc", factory: { _ in SwiftLogNoOpLogHandler() })
    static let maxBodyBytes = 64 * 1024 * 1024

    init(http: HTTPClient, configuration: ConnectionConfiguration, logger: Logger) {
        self.http = http
        self.configuration = configuration
        self.logger = logger
        self.limiter = ConcurrencyLimiter(limit: configuration.maxConcurrentRequests)
        self.metrics = TransportMetrics(connection: configuration.name, factory: configuration.metricsFactory)
    }

    func url(for request: APIRequest) -> String {
        var url = configuration.root + request.path
        if !request.query.isEmpty {
            url += "?" + request.query.map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }.joined(separator: "&")
        }
        return url
    }

    func perform(_ request: APIRequest, authorization: String?, attempt: Int) async -> AttemptOutcome {
        do {
            try await limiter.acquire()
        } catch {
            return .cancelled
        }
        defer { limiter.release() }

        var req = HTTPClientRequest(url: url(for: request))
        req.method = request.method
        req.headers.add(name: "Accept", value: "application/json")
        req.headers.add(name: "User-Agent", value: "changegate")
        req.headers.add(name: "X-Changegate-Request-Id", value: request.id)
        if let authorization { req.headers.add(name: "Authorization", value: authorization) }
        if let body = request.body {
            req.headers.add(name: "Content-Type", value: request.contentType ?? "application/json")
            req.body = .bytes(ByteBuffer(string: body))
        } else if let data = request.data {
            req.headers.add(name: "Content-Type", value: request.contentType ?? "application/octet-stream")
            req.body = .bytes(ByteBuffer(bytes: data))
        }

        let start = ContinuousClock.now
        let timeout = configuration.requestTimeout
        let outcome: AttemptOutcome
        do {
            let prepared = req
            // AsyncHTTPClient's deadline fires first: for a request still waiting for a connection it reports the
            // connect error (provably not sent). The task-group timer only bounds reading the body.
            let response = try await Self.withTimeout(timeout + .milliseconds(500)) { [http, quietLogger] in
                let r = try await http.execute(prepared, deadline: .now() + .nanoseconds(Int64(timeout.seconds * 1e9)), logger: quietLogger)
                let body = try await r.body.collect(upTo: Self.maxBodyBytes)
                return RawResponse(status: Int(r.status.code), headers: r.headers, body: Data(body.readableBytesView))
            }
            outcome = .answered(response)
        } catch {
            outcome = Self.classify(error, target: target)
        }
        let duration = ContinuousClock.now - start
        log(request, outcome: outcome, attempt: attempt, duration: duration)
        metrics.record(request, outcome: outcome, duration: duration)
        return outcome
    }

    private func log(_ request: APIRequest, outcome: AttemptOutcome, attempt: Int, duration: Duration) {
        var metadata: Logger.Metadata = [
            "servicenow.connection": "\(configuration.name)",
            "http.method": "\(request.method.rawValue)",
            "http.path": "\(request.path)",
            "duration_ms": "\(Int(duration.seconds * 1000))",
            "attempt": "\(attempt)",
        ]
        switch outcome {
        case .answered(let r): metadata["http.status"] = "\(r.status)"
        case .notSent(let d), .lost(let d), .tlsFailure(let d): metadata["error"] = "\(d)"
        case .timedOut: metadata["error"] = "timeout"
        case .cancelled: metadata["error"] = "cancelled"
        }
        // Queries hold change numbers and titles, never credentials; bodies are not logged at all
        // (the token request's body carries the secrets).
        if logger.logLevel <= .trace, request.kind != .token, !request.query.isEmpty {
            metadata["http.query"] = "\(request.query.map { "\($0.0)=\($0.1)" }.joined(separator: "&"))"
        }
        logger.debug("servicenow request", metadata: metadata)
    }

    struct TimedOut: Error {}

    /// Runs `operation`, cancelling it after `timeout` (AsyncHTTPClient's own deadline stops at the response head).
    static func withTimeout<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw TimedOut() }
            return value
        }
    }

    /// `host:port` of the instance, for error messages.
    var target: String {
        guard let url = URL(string: configuration.root), let host = url.host else { return configuration.displayURL }
        return "\(host):\(url.port ?? (url.scheme == "http" ? 80 : 443))"
    }

    static func classify(_ error: any Error, target: String = "the instance") -> AttemptOutcome {
        if error is TimedOut { return .timedOut }
        if error is CancellationError { return .cancelled }
        let typeName = String(reflecting: type(of: error))
        let text = ConnectionErrorText.describe(error, target: target)
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout, .getConnectionFromPoolTimeout, .invalidURL, .emptyHost, .emptyScheme,
                 .socksHandshakeTimeout, .httpProxyHandshakeTimeout, .tlsHandshakeTimeout, .invalidProxyConfiguration, .invalidProxyResponse, .proxyAuthenticationRequired:
                return .notSent(text)
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return .timedOut
            case .cancelled:
                return Task.isCancelled ? .cancelled : .lost(text)
            case .alreadyShutdown:
                return .notSent("the HTTP client was shut down")
            default:
                return .lost(text)
            }
        }
        if typeName.contains("NIOSSL") || typeName.contains("BoringSSL") {
            return .tlsFailure(text)
        }
        if typeName.contains("NIOConnectionError") || typeName.contains("ConnectTimeout") {
            return .notSent(text)
        }
        if let io = error as? IOError, [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL].contains(io.errnoCode) {
            return .notSent(text)
        }
        if let ce = error as? ChannelError, case .connectTimeout = ce {
            return .notSent(text)
        }
        return .lost(text)
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters (for query strings, form bodies and path segments).
    static func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: unreserved) ?? s
    }

    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
