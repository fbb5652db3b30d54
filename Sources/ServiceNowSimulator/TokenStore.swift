import Foundation

/// Issued OAuth tokens. Like a real instance, asking again while an access token is valid returns the same
/// token with a later expiry; revocation (by fault or control API) drops access tokens but keeps refresh tokens.
actor TokenStore {
    struct Grant: Sendable {
        let userName: String
        let clientID: String
        var expires: Date
    }

    struct Issued: Sendable {
        let accessToken: String
        let refreshToken: String?
        let expiresIn: Int
    }

    private var access: [String: Grant] = [:]
    private var refresh: [String: Grant] = [:]
    /// "client user" → the token last issued to that pair.
    private var currentAccess: [String: String] = [:]
    private var currentRefresh: [String: String] = [:]
    private let lifetime: Double
    private let refreshLifetime: Double
    private var revokeEvery: Double?
    private var lastRevocation = Date()

    init(lifetime: Double, refreshLifetime: Double) {
        self.lifetime = lifetime
        self.refreshLifetime = refreshLifetime
    }

    func issue(userName: String, clientID: String, withRefreshToken: Bool) -> Issued {
        applyRevocationSchedule()
        let now = Date()
        let key = "\(clientID) \(userName)"
        let expires = now.addingTimeInterval(lifetime)
        let token: String
        if let existing = currentAccess[key], let grant = access[existing], grant.expires > now {
            token = existing
        } else {
            token = Self.randomToken()
            currentAccess[key] = token
        }
        access[token] = Grant(userName: userName, clientID: clientID, expires: expires)
        var refreshToken: String?
        if withRefreshToken {
            if let existing = currentRefresh[key], let grant = refresh[existing], grant.expires > now {
                refreshToken = existing
            } else {
                let fresh = Self.randomToken()
                refresh[fresh] = Grant(userName: userName, clientID: clientID, expires: now.addingTimeInterval(refreshLifetime))
                currentRefresh[key] = fresh
                refreshToken = fresh
            }
        }
        return Issued(accessToken: token, refreshToken: refreshToken, expiresIn: Int(lifetime.rounded(.up)))
    }

    /// The user a valid refresh token belongs to, if it was issued to this client.
    func refreshGrant(_ token: String, clientID: String) -> String? {
        guard let grant = refresh[token], grant.clientID == clientID, grant.expires > Date() else { return nil }
        return grant.userName
    }

    /// The user a valid access token belongs to.
    func user(forAccessToken token: String) -> String? {
        applyRevocationSchedule()
        guard let grant = access[token] else { return nil }
        guard grant.expires > Date() else {
            access[token] = nil
            return nil
        }
        return grant.userName
    }

    func revokeAll() {
        access = [:]
        currentAccess = [:]
        lastRevocation = Date()
    }

    func setRevocationSchedule(every seconds: Double?) {
        revokeEvery = seconds.flatMap { $0 > 0 ? $0 : nil }
        lastRevocation = Date()
    }

    private func applyRevocationSchedule() {
        guard let every = revokeEvery, Date().timeIntervalSince(lastRevocation) >= every else { return }
        revokeAll()
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    static func randomToken() -> String {
        var rng = SystemRandomNumberGenerator()
        return String((0..<86).map { _ in alphabet[Int(rng.next() % 64)] })
    }
}
