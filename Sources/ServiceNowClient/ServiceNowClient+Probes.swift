import Foundation

/// What `/oauth_token.do` answered to the connection's configured grant (see `ServiceNowClient.probeToken()`).
public struct TokenProbe: Sendable {
    public enum Outcome: Sendable {
        /// A token was issued; `expiresIn` is the lifetime the instance gave (`expires_in`), when it gave one.
        case issued(expiresIn: Duration?)
        /// No token: the instance's HTTP status and the start of its answer (its own words, e.g. `access_denied`).
        case refused(status: Int, answer: String)
    }

    /// The grant type sent: `password`, `refresh_token` or `client_credentials`.
    public var grant: String
    public var outcome: Outcome
}

/// Single calls for diagnostics (`changegate doctor`): each says what the instance answered rather than hiding
/// it behind retries, and none changes anything on the instance.
extension ServiceNowClient {
    /// A sys_id no record has: updating it can only be refused (403) or not found (404).
    static let absentSysID = String(repeating: "0", count: 32)

    /// One unauthenticated `GET /` of the instance root, not retried: proves that the network path, the proxy and
    /// TLS (handshake, certificate) work. Returns the HTTP status, whatever it is.
    public func probeRoot() async throws(ServiceNowError) -> Int {
        let request = APIRequest(method: .GET, path: "/", kind: .read, operation: "read the instance root")
        return try await sendOnce(request).status
    }

    /// Asks `/oauth_token.do` once for a token with the configured grant (the client's own form) and tells what
    /// the instance said; an issued token is kept for the calls that follow. nil with Basic authentication, which
    /// uses no token. Throws only when no answer came.
    public func probeToken() async throws(ServiceNowError) -> TokenProbe? {
        let form = originalGrant()
        guard let grant = form.first(where: { $0.0 == "grant_type" })?.1 else { return nil }
        let r = try await sendOnce(Self.tokenRequest(form: form))
        if r.status == 200, let token = try? Self.decodeToken(r.body) {
            await tokens.adopt(token)
            let lifetime = (try? JSONValue.parse(r.body))?["expires_in"]?.scalarText.flatMap(Double.init)
            return TokenProbe(grant: grant, outcome: .issued(expiresIn: lifetime.map { .seconds($0) }))
        }
        return TokenProbe(grant: grant, outcome: .refused(status: r.status, answer: String(decoding: r.body.prefix(4096), as: UTF8.self)))
    }

    /// Whether the user may update change requests, changing none: PATCHes a change that cannot exist (a sys_id of
    /// 32 zeros) with a harmless field. `.forbidden` proves the user may not write; `.notFound` proves nothing (a
    /// real instance looks the record up before it checks the ACL). Returns when the instance accepted the update.
    public func probeWriteAccess() async throws(ServiceNowError) {
        _ = try await updateChange(sysID: Self.absentSysID, ChangeUpdate(extraFields: ["correlation_display": "changegate doctor"]))
    }

    /// The role names of user `username` (Table API `sys_user`); nil when there is no such user or its roles read
    /// back empty (the user may not read them).
    public func roles(ofUser username: String) async throws(ServiceNowError) -> Set<String>? {
        guard QueryEncoding.isSafe(username) else { return nil }
        let request = APIRequest(method: .GET, path: "/api/now/table/sys_user",
                                 query: [("sysparm_query", "user_name=\(username)"), ("sysparm_fields", "user_name,roles"), ("sysparm_limit", "1")],
                                 kind: .read, operation: "roles of user \(username)")
        do {
            return try await send(request) { r throws(DecodingProblem) in
                guard let first = try RecordDecoding.records(in: try Self.json(r)).first,
                      let roles = first["roles"]?.fieldValue, !roles.isEmpty else { return nil }
                return Set(roles.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            }
        } catch .notFound {
            // Table API v1 answers 404 "No Record found" for an empty list.
            return nil
        }
    }

    /// One attempt without authentication, any HTTP status returned as it is.
    private func sendOnce(_ request: APIRequest) async throws(ServiceNowError) -> RawResponse {
        switch await transport.perform(request, authorization: nil, attempt: 1) {
        case .answered(let r): return r
        case .cancelled: throw .cancelled(connection: name)
        case .tlsFailure(let d): throw tlsFailure(d)
        case .notSent(let d), .lost(let d): throw .transport(connection: name, description: d)
        case .timedOut: throw .timeout(connection: name)
        }
    }
}
