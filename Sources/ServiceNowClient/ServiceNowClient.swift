import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceNowModel

/// Talks to one ServiceNow instance (one `ConnectionConfiguration`): OAuth or Basic authentication,
/// retries with backoff, bounded concurrency, and decoding into `ServiceNowModel` types.
///
/// The `HTTPClient` is the caller's: share one per process or make one with `makeHTTPClient(for:)`, and shut it
/// down after the last `ServiceNowClient` using it is done.
public final class ServiceNowClient: Sendable {
    public let configuration: ConnectionConfiguration
    let logger: Logger
    let transport: Transport
    let tokens: TokenStore
    /// Every request this client sends is counted here; the daemon's polls wait for it.
    public let requestBudget: RequestBudget

    public init(configuration: ConnectionConfiguration, httpClient: HTTPClient, logger: Logger) {
        var logger = logger
        logger[metadataKey: "servicenow.connection"] = "\(configuration.name)"
        self.configuration = configuration
        self.logger = logger
        self.transport = Transport(http: httpClient, configuration: configuration, logger: logger)
        self.requestBudget = RequestBudget(perHour: configuration.requestsPerHour)
        if case .refreshToken(_, _, let refresh) = configuration.credentials {
            self.tokens = TokenStore(initialRefreshToken: refresh)
        } else {
            self.tokens = TokenStore()
        }
    }

    /// The connection's name in the config.
    public var name: String { configuration.name }

    /// Token requests made so far (diagnostics and tests).
    public var tokenRequestCount: Int {
        get async { await tokens.fetchCount }
    }

    // MARK: sending with retries

    /// Sends `request`, retrying transient failures per `configuration.retry`, and decodes a 2xx answer.
    func send<T>(_ request: APIRequest, decode: (RawResponse) throws(DecodingProblem) -> T) async throws(ServiceNowError) -> T {
        let policy = configuration.retry
        var attempt = 0
        // Tokens already given up after a 401. A new token refused again means revocation struck twice during a
        // long, retried call (a real instance revokes on password changes or admin action): renew again. The same
        // token refused twice means the user itself is not let in.
        var refusedTokens: Set<Secret> = []
        while true {
            attempt += 1
            if Task.isCancelled { throw .cancelled(connection: name) }
            let (authorization, token) = try await authorization(for: request)
            let outcome = await transport.perform(request, authorization: authorization, attempt: attempt)
            account(outcome)
            let failure: ServiceNowError
            var wait: Duration?
            switch outcome {
            case .cancelled:
                throw .cancelled(connection: name)
            case .tlsFailure(let d):
                throw tlsFailure(d)
            case .notSent(let d):
                failure = .transport(connection: name, description: d)
            case .timedOut:
                if request.isWrite {
                    throw .ambiguousWrite(connection: name, operation: request.operation, reason: "no answer within \(Int(configuration.requestTimeout.seconds)) s")
                }
                failure = .timeout(connection: name)
            case .lost(let d):
                if request.isWrite { throw .ambiguousWrite(connection: name, operation: request.operation, reason: d) }
                failure = .transport(connection: name, description: d)
            case .answered(let r):
                switch r.status {
                case 200..<300:
                    do {
                        return try decode(r)
                    } catch {
                        if request.isWrite {
                            throw .ambiguousWrite(connection: name, operation: request.operation, reason: "HTTP \(r.status) but the answer could not be read: \(error.reason)")
                        }
                        failure = .malformedResponse(connection: name, endpoint: request.endpoint, reason: error.reason)
                    }
                case 401:
                    if request.kind == .token { throw .credentialsRejected(connection: name) }
                    if case .basic = configuration.credentials { throw .credentialsRejected(connection: name) }
                    // The token may have been revoked or expired early: get a new one once and try again.
                    if let token, refusedTokens.insert(token).inserted, refusedTokens.count <= policy.maxAttempts {
                        await tokens.invalidate(token)
                        attempt -= 1
                        logger.debug("servicenow token refused; renewing it once")
                        continue
                    }
                    throw .notAuthenticated(connection: name)
                case 429:
                    let retryAfter = Self.retryAfter(r.headers)
                    let resetAt = Self.rateLimitReset(r.headers)
                    let serverWait = max(retryAfter ?? .zero, resetAt.map { Duration.seconds($0.timeIntervalSinceNow) } ?? .zero)
                    failure = .rateLimited(connection: name, retryAfter: serverWait > .zero ? serverWait : nil)
                    // A wait longer than the policy allows (hourly limits) is the caller's to schedule.
                    if serverWait > policy.maxDelay { throw failure }
                    wait = policy.rateLimitDelay(forRetry: attempt, retryAfter: retryAfter, resetAt: resetAt)
                case 503:
                    // Unavailable: refused before processing, so even writes may be retried.
                    failure = .serverError(connection: name, status: r.status, message: Self.errorMessage(r).message)
                case 500...599:
                    let message = Self.errorMessage(r).message
                    if request.isWrite {
                        throw .ambiguousWrite(connection: name, operation: request.operation, reason: "HTTP \(r.status)\(message.isEmpty ? "" : " \(message)")")
                    }
                    failure = .serverError(connection: name, status: r.status, message: message)
                case 403:
                    let (message, detail) = Self.errorMessage(r)
                    throw .forbidden(connection: name, message: message, detail: detail)
                case 404:
                    throw .notFound(connection: name, what: request.operation)
                case 300..<400:
                    let location = r.headers.first(name: "Location").map { " to \($0)" } ?? ""
                    throw .badRequest(connection: name, message: "HTTP \(r.status) redirect\(location)", detail: "check the base URL of the connection (it must be the instance root, e.g. https://acme.service-now.com)")
                default:
                    let (message, detail) = Self.errorMessage(r)
                    throw .badRequest(connection: name, message: message.isEmpty ? "HTTP \(r.status)" : message, detail: detail)
                }
            }
            guard attempt < policy.maxAttempts else { throw failure }
            let delay = wait ?? policy.delay(forRetry: attempt)
            logger.debug("servicenow request failed; retrying", metadata: [
                "http.path": "\(request.path)", "attempt": "\(attempt)",
                "retry_in_ms": "\(Int(delay.seconds * 1000))", "reason": "\(failure.shortReason)",
            ])
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw .cancelled(connection: name)
            }
        }
    }

    /// Counts an attempt that may have reached the instance, and what the instance said of its limits.
    private func account(_ outcome: AttemptOutcome) {
        switch outcome {
        case .cancelled, .notSent, .tlsFailure: return
        case .timedOut, .lost: requestBudget.spend()
        case .answered(let r):
            requestBudget.spend()
            let limit = r.headers.first(name: "X-RateLimit-Limit").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            let retryAt: Date? = r.status == 429
                ? [Self.retryAfter(r.headers).map { Date().addingTimeInterval($0.seconds) }, Self.rateLimitReset(r.headers)].compactMap { $0 }.max()
                : nil
            if limit != nil || retryAt != nil { requestBudget.instanceReported(limit: limit, retryAt: retryAt) }
        }
    }

    /// The Authorization header value for a request, and the bearer token in it (to invalidate on 401).
    private func authorization(for request: APIRequest) async throws(ServiceNowError) -> (String?, Secret?) {
        if request.kind == .token { return (nil, nil) }
        if case .basic(let user, let password) = configuration.credentials {
            let raw = Data("\(user):\(password.reveal())".utf8).base64EncodedString()
            return ("Basic \(raw)", nil)
        }
        let token = try await tokens.token { refresh async throws(ServiceNowError) in
            try await self.issueToken(refresh: refresh)
        }
        return ("Bearer \(token.reveal())", token)
    }

    /// A failed TLS handshake: retrying will not help, a CA bundle might.
    func tlsFailure(_ description: String) -> ServiceNowError {
        .transport(connection: name, description: "the TLS handshake failed: \(description); if the instance uses a private CA, set the connection's ca_bundle")
    }

    // MARK: answer details

    /// `error.message`/`error.detail` of a ServiceNow error envelope, or the OAuth `error_description`.
    static func errorMessage(_ r: RawResponse) -> (message: String, detail: String?) {
        guard let body = try? JSONValue.parse(r.body) else { return ("", nil) }
        if let e = body["error"], e.objectValue != nil {
            let detail = e["detail"]?.scalarText
            return (e["message"]?.scalarText ?? "", (detail?.isEmpty ?? true) ? nil : detail)
        }
        return (body["error_description"]?.scalarText ?? body["error"]?.scalarText ?? "", nil)
    }

    /// `Retry-After` as seconds or as an HTTP date.
    static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        guard let v = headers.first(name: "Retry-After")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let s = Double(v) { return .seconds(max(0, s)) }
        return HTTPDate.parse(v).map { .seconds(max(0, $0.timeIntervalSinceNow)) }
    }

    /// `X-RateLimit-Reset`: unix time of the next window.
    static func rateLimitReset(_ headers: HTTPHeaders) -> Date? {
        guard let v = headers.first(name: "X-RateLimit-Reset"), let t = Double(v.trimmingCharacters(in: .whitespaces)) else { return nil }
        return Date(timeIntervalSince1970: t)
    }
}

extension ServiceNowError {
    /// A one-line cause for debug logs.
    var shortReason: String {
        switch self {
        case .rateLimited: "rate limited"
        case .serverError(_, let status, _): "HTTP \(status)"
        case .transport(_, let d): d
        case .timeout: "timeout"
        case .malformedResponse(_, _, let reason): reason
        default: "\(self)"
        }
    }
}

/// RFC 7231 dates (`Date` and `Retry-After` headers).
enum HTTPDate {
    static func parse(_ text: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return f.date(from: text)
    }
}
