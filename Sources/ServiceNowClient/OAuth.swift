import Foundation
import NIOHTTP1

extension ServiceNowClient {
    /// Asks `/oauth_token.do` for an access token: the refresh grant first when a refresh token is known,
    /// falling back to the configured grant when the instance refuses it.
    func issueToken(refresh: Secret?) async throws(ServiceNowError) -> AccessToken {
        let original = originalGrant()
        if let refresh, case .some(let (clientID, clientSecret)) = oauthClient() {
            do {
                return try await requestToken(form: [
                    ("grant_type", "refresh_token"), ("client_id", clientID),
                    ("client_secret", clientSecret.reveal()), ("refresh_token", refresh.reveal()),
                ])
            } catch .credentialsRejected {
                // Refresh token expired or revoked. Fall back unless the original grant is this very refresh token.
                if case .refreshToken(_, _, let configured) = configuration.credentials, configured == refresh {
                    throw .credentialsRejected(connection: name)
                }
                logger.debug("servicenow refresh token refused; using the configured grant")
                var token = try await requestToken(form: original)
                token.refreshRejected = token.refreshToken == nil
                return token
            }
        }
        return try await requestToken(form: original)
    }

    private func oauthClient() -> (String, Secret)? {
        switch configuration.credentials {
        case .password(let id, let secret, _, _), .refreshToken(let id, let secret, _), .clientCredentials(let id, let secret):
            (id, secret)
        case .basic:
            nil
        }
    }

    /// The form of the configured grant; empty for Basic authentication.
    func originalGrant() -> [(String, String)] {
        switch configuration.credentials {
        case .password(let id, let secret, let user, let password):
            [("grant_type", "password"), ("client_id", id), ("client_secret", secret.reveal()),
             ("username", user), ("password", password.reveal())]
        case .refreshToken(let id, let secret, let refresh):
            [("grant_type", "refresh_token"), ("client_id", id), ("client_secret", secret.reveal()),
             ("refresh_token", refresh.reveal())]
        case .clientCredentials(let id, let secret):
            [("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret.reveal())]
        case .basic:
            []
        }
    }

    private func requestToken(form: [(String, String)]) async throws(ServiceNowError) -> AccessToken {
        try await send(Self.tokenRequest(form: form)) { r throws(DecodingProblem) in try Self.decodeToken(r.body) }
    }

    /// The one OAuth form: `/oauth_token.do`, form-encoded (it carries the secrets, so it is never logged).
    static func tokenRequest(form: [(String, String)]) -> APIRequest {
        let body = form.map { "\(Transport.escape($0.0))=\(Transport.escape($0.1))" }.joined(separator: "&")
        return APIRequest(
            method: .POST, path: "/oauth_token.do", body: body,
            contentType: "application/x-www-form-urlencoded", kind: .token, operation: "get an OAuth token")
    }

    /// Reads a `/oauth_token.do` success answer (with or without a refresh token).
    static func decodeToken(_ body: Data, now: ContinuousClock.Instant = .now) throws(DecodingProblem) -> AccessToken {
        let json: JSONValue
        do { json = try JSONValue.parse(body) } catch { throw DecodingProblem(reason: "token answer is not JSON") }
        guard case .string(let access)? = json["access_token"], !access.isEmpty else {
            throw DecodingProblem(reason: "token answer has no access_token")
        }
        let lifetime = json["expires_in"]?.scalarText.flatMap(Double.init) ?? 1800
        let refresh = json["refresh_token"]?.scalarText.flatMap { $0.isEmpty ? nil : Secret($0) }
        return AccessToken(value: Secret(access), refreshToken: refresh, lifetime: .seconds(max(1, lifetime)), obtainedAt: now)
    }
}
