import Foundation

/// A PostgreSQL queue: `database = "postgresql://user@host:5432/changegate?sslmode=verify-full"`, with the password
/// in a credential (`database_password_file`), never in the URL, so the URL can be logged as it is.
public struct PostgresSettings: Sendable, Equatable {
    public enum TLSMode: String, Sendable, Equatable {
        /// No TLS: for a server on loopback or a socket only.
        case disable
        /// TLS, with the server's certificate checked against the CA and its name against the host.
        /// `require` and `verify-ca` mean this too: a TLS connection whose peer is not checked protects nothing.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    public var tls: TLSMode
    /// PEM file of the CA(s) to trust (`sslrootcert=`); nil: the system's trust store.
    public var rootCertificate: String?
    /// A credential name or an absolute path (as the ServiceNow secrets); nil: no password (trust or peer auth).
    public var passwordFile: String?
    /// The URL as written (it holds no secret).
    public var url: String
    /// How long a leader's lease lasts unrenewed (`leader_lease`): a standby takes over about this long after the
    /// leader stops renewing, and a leader that cannot renew stops its deploy commands before it ends.
    public var leaderLease: Duration = .seconds(8)

    static let example = "postgresql://changegate@db.example.com:5432/changegate?sslmode=verify-full"

    /// Parses the URL; every failure names the key and the fix.
    static func parse(_ text: String, passwordFile: String?, error: (String, String) -> ConfigError) throws(ConfigError) -> PostgresSettings {
        guard let c = URLComponents(string: text), c.scheme == "postgresql" || c.scheme == "postgres",
              let host = c.host, !host.isEmpty else {
            throw error("is not a PostgreSQL URL", "database = \"\(example)\"")
        }
        guard c.password == nil else {
            throw error("holds a password; secrets are never written in the config",
                        "remove it from the URL and set database_password_file = \"changegate-database-password\" (a credential)")
        }
        guard let user = c.user, !user.isEmpty else { throw error("names no user", "database = \"\(example)\"") }
        let name = String(c.path.drop(while: { $0 == "/" }))
        guard !name.isEmpty, !name.contains("/") else { throw error("names no database", "database = \"\(example)\"") }
        var tls = TLSMode.verifyFull
        var rootCertificate: String?
        for item in c.queryItems ?? [] {
            switch (item.name, item.value ?? "") {
            case ("sslmode", "disable"): tls = .disable
            case ("sslmode", "require"), ("sslmode", "verify-ca"), ("sslmode", "verify-full"): tls = .verifyFull
            case ("sslmode", let other):
                throw error("has sslmode=\(other); changegate knows disable, require, verify-ca and verify-full (all but disable verify the server)",
                            "use sslmode=verify-full, or sslmode=disable for a server on loopback")
            case ("sslrootcert", let path) where path.hasPrefix("/"): rootCertificate = path
            case ("sslrootcert", _): throw error("has an sslrootcert that is not an absolute path", "sslrootcert=/etc/changegate/db-ca.pem")
            case (let other, _): throw error("has the unknown option \(other)", "only sslmode and sslrootcert are read; remove \(other)")
            }
        }
        return PostgresSettings(host: host, port: c.port ?? 5432, user: user, database: name, tls: tls,
                                rootCertificate: rootCertificate, passwordFile: passwordFile, url: text)
    }

    /// A URL given on the command line (`changegate migrate --to`): errors name `option` instead of a config key.
    public static func parse(commandLine text: String, option: String, passwordFile: String?) throws(ConfigError) -> PostgresSettings {
        try parse(text, passwordFile: passwordFile) { ConfigError(file: "command line", key: option, problem: $0, fix: $1) }
    }

    /// The password from its credential; nil when none is configured.
    public func readPassword(configFile: String,
                             environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> String? {
        guard let passwordFile else { return nil }
        return try SecretFile.read(passwordFile, key: "daemon.database_password_file", configFile: configFile, environment: environment)
    }
}
