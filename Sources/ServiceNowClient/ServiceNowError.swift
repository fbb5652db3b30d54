/// Everything that can go wrong talking to ServiceNow. Each `description` names the connection and says
/// what an operator should do; none ever contains a secret or a token.
public enum ServiceNowError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `/oauth_token.do` answered 401, or Basic credentials were refused.
    case credentialsRejected(connection: String)
    /// The API refused our token even after a fresh one was fetched.
    case notAuthenticated(connection: String)
    case forbidden(connection: String, message: String, detail: String?)
    case notFound(connection: String, what: String)
    case badRequest(connection: String, message: String, detail: String?)
    /// Still rate limited after the retries (or the instance asked for a longer wait than `RetryPolicy.maxDelay`).
    case rateLimited(connection: String, retryAfter: Duration?)
    case serverError(connection: String, status: Int, message: String)
    case transport(connection: String, description: String)
    case timeout(connection: String)
    case malformedResponse(connection: String, endpoint: String, reason: String)
    /// A create or update may or may not have been applied (timeout or failure after the request was sent).
    /// It was not retried, to avoid duplicates: look the change up (by correlation id) before trying again.
    case ambiguousWrite(connection: String, operation: String, reason: String)
    /// The calling task was cancelled.
    case cancelled(connection: String)

    public var connection: String {
        switch self {
        case .credentialsRejected(let c), .notAuthenticated(let c), .forbidden(let c, _, _), .notFound(let c, _),
             .badRequest(let c, _, _), .rateLimited(let c, _), .serverError(let c, _, _), .transport(let c, _),
             .timeout(let c), .malformedResponse(let c, _, _), .ambiguousWrite(let c, _, _), .cancelled(let c):
            c
        }
    }

    /// True when the same call may succeed later without anyone changing anything.
    /// `ambiguousWrite` is not transient: reconcile first, or the change may be created twice.
    public var isTransient: Bool {
        switch self {
        case .rateLimited, .serverError, .transport, .timeout, .malformedResponse: true
        case .credentialsRejected, .notAuthenticated, .forbidden, .notFound, .badRequest, .ambiguousWrite, .cancelled: false
        }
    }

    public var description: String {
        switch self {
        case .credentialsRejected(let c):
            return "ServiceNow connection '\(c)': the instance rejected the credentials. Check the OAuth client id and secret, "
                + "the user name and password (and that the grant type is enabled for the OAuth application) configured for connection '\(c)'."
        case .notAuthenticated(let c):
            return "ServiceNow connection '\(c)': requests are not authenticated even with a freshly issued token. "
                + "Check that the user of connection '\(c)' is active and allowed web service access, and that the OAuth application is active."
        case .forbidden(let c, let message, let detail):
            return "ServiceNow connection '\(c)': the instance refused the operation (\(Self.join(message, detail))). If the user lacks rights, "
                + "give the user of connection '\(c)' the roles sn_change_read and sn_change_write (or itil) and check the ACLs on change_request "
                + "and sysapproval_approver; otherwise do what the message says (e.g. a state move the change's state model does not allow)."
        case .notFound(let c, let what):
            return "ServiceNow connection '\(c)': \(what) was not found (or an ACL hides it). Check the number or id and the user's read access."
        case .badRequest(let c, let message, let detail):
            if message.localizedCaseInsensitiveContains("does not represent any resource") {
                return "ServiceNow connection '\(c)': the instance does not know the Change Management API (\(Self.join(message, detail))). "
                    + "Ask the ServiceNow administrator to activate the Change Management REST API (sn_chg_rest) plugin, and check the base URL of connection '\(c)'."
            }
            return "ServiceNow connection '\(c)': the instance rejected the request (\(Self.join(message, detail))). Check the field values sent."
        case .rateLimited(let c, let retryAfter):
            let wait = retryAfter.map { " for about \(Int($0.seconds.rounded(.up))) s" } ?? ""
            return "ServiceNow connection '\(c)': rate limited by the instance\(wait). Wait, lower the polling rate, or ask the administrator to raise the rate limit rule for this user."
        case .serverError(let c, let status, let message):
            return "ServiceNow connection '\(c)': the instance answered HTTP \(status)\(message.isEmpty ? "" : " (\(message))"). It is probably temporarily unavailable; retry later or check the instance's status."
        case .transport(let c, let description):
            return "ServiceNow connection '\(c)': \(description). Check that the instance is up and the connection's url is right, "
                + "then DNS, firewalls, the proxy (HTTPS_PROXY/NO_PROXY) and TLS settings (ca_bundle)."
        case .timeout(let c):
            return "ServiceNow connection '\(c)': the instance did not answer in time. Check network reachability, or raise the request timeout."
        case .malformedResponse(let c, let endpoint, let reason):
            return "ServiceNow connection '\(c)': unreadable answer from \(endpoint) (\(reason)). Check that the base URL points at a ServiceNow instance and not at a proxy or login page."
        case .ambiguousWrite(let c, let operation, let reason):
            return "ServiceNow connection '\(c)': \(operation) may or may not have been applied (\(reason)). It was not retried; look the change up (by correlation id) before trying again."
        case .cancelled(let c):
            return "ServiceNow connection '\(c)': the request was cancelled."
        }
    }

    private static func join(_ message: String, _ detail: String?) -> String {
        guard let detail, !detail.isEmpty else { return message }
        return "\(message): \(detail)"
    }
}
