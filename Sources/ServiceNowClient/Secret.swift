/// A credential value that never prints itself: `description`, `debugDescription` and reflection
/// (`dump`, `Mirror`) all show `<redacted>`, so a secret cannot leak into logs or error messages by accident.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    public init(_ value: String) { self.value = value }

    /// The real value. Call it only where the value goes on the wire.
    public func reveal() -> String { value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// How changegate authenticates to one ServiceNow instance.
public enum Credentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// OAuth password grant: OAuth client plus a service-account user (the Octopus integration's setup).
    case password(clientID: String, clientSecret: Secret, username: String, password: Secret)
    /// OAuth refresh-token grant with a refresh token obtained elsewhere.
    case refreshToken(clientID: String, clientSecret: Secret, refreshToken: Secret)
    /// OAuth client-credentials grant (newer instances; off by default on the instance).
    case clientCredentials(clientID: String, clientSecret: Secret)
    /// HTTP Basic authentication on every call.
    case basic(username: String, password: Secret)

    public var description: String {
        switch self {
        case .password(let clientID, _, let username, _):
            "oauth password grant (client \(clientID), user \(username))"
        case .refreshToken(let clientID, _, _):
            "oauth refresh-token grant (client \(clientID))"
        case .clientCredentials(let clientID, _):
            "oauth client-credentials grant (client \(clientID))"
        case .basic(let username, _):
            "basic auth (user \(username))"
        }
    }

    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["kind": description], displayStyle: .enum) }

    /// The user or OAuth client an operator should check when authentication fails.
    var identity: String {
        switch self {
        case .password(let clientID, _, let username, _): "OAuth client id '\(clientID)', client secret, user '\(username)' and password"
        case .refreshToken(let clientID, _, _): "OAuth client id '\(clientID)', client secret and refresh token"
        case .clientCredentials(let clientID, _): "OAuth client id '\(clientID)' and client secret (and that the client-credentials grant is enabled)"
        case .basic(let username, _): "user '\(username)' and password"
        }
    }
}
