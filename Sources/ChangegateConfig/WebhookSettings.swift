import Foundation

/// Push notifications from ServiceNow (`[daemon] webhook_*`). Off unless `webhook_listen` is set.
public struct WebhookSettings: Sendable, Equatable {
    /// A signature is only as strong as its secret: 32 bytes is HMAC-SHA256's block-size recommendation.
    public static let minimumSecretBytes = 32

    public var host: String
    public var port: Int
    /// A credential name or an absolute path to a 0600 file, like the ServiceNow secrets.
    public var secretFile: String
    /// Both PEM files, or neither (TLS is then terminated by a reverse proxy in front).
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var maxSkew: Duration = .seconds(300)

    public var listen: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    static func read(_ r: inout TableReader) throws(ConfigError) -> WebhookSettings? {
        let isPublic = try r.bool("webhook_listen_public") ?? false
        let secretFile = try r.string("webhook_secret_file", example: "changegate-webhook-secret")
        let certificate = try r.string("webhook_tls_certificate", example: "/etc/changegate/webhook.pem")
        let key = try r.string("webhook_tls_key", example: "/etc/changegate/webhook.key")
        let maxSkew = try r.duration("webhook_max_skew", example: "300s")
        guard let text = try r.string("webhook_listen", example: "127.0.0.1:8443") else {
            // The other keys mean nothing without a listener: say so rather than silently ignore them.
            if let stray = [("webhook_secret_file", secretFile), ("webhook_tls_certificate", certificate), ("webhook_tls_key", key)]
                .first(where: { $0.1 != nil }) {
                throw r.error(stray.0, "is set but webhook_listen is not, so push notifications are off",
                              fix: "set webhook_listen = \"127.0.0.1:8443\", or remove \(stray.0)")
            }
            return nil
        }
        guard case .tcp(let host, let port)? = MetricsListen.parse(text) else {
            throw r.error("webhook_listen", "must be host:port",
                          fix: "webhook_listen = \"127.0.0.1:8443\" (behind a reverse proxy) or \"0.0.0.0:8443\" with a certificate")
        }
        guard let secretFile, !secretFile.isEmpty else {
            throw r.error("webhook_secret_file", "is required when webhook_listen is set: unsigned notifications are never accepted",
                          fix: "webhook_secret_file = \"changegate-webhook-secret\" (a credential, at least 32 random bytes: openssl rand -hex 32)")
        }
        guard (certificate == nil) == (key == nil) else {
            let missing = certificate == nil ? "webhook_tls_certificate" : "webhook_tls_key"
            throw r.error(missing, "is missing: TLS needs both the certificate and its key",
                          fix: "set both webhook_tls_certificate and webhook_tls_key, or neither (TLS at a reverse proxy)")
        }
        for (k, path) in [("webhook_tls_certificate", certificate), ("webhook_tls_key", key)] {
            if let path, !path.hasPrefix("/") {
                throw r.error(k, "must be an absolute path", fix: "\(k) = \"/etc/changegate/webhook.\(k.hasSuffix("key") ? "key" : "pem")\"")
            }
        }
        let loopback = MetricsListen.tcp(host: host, port: port).isLoopback
        guard loopback || isPublic || certificate != nil else {
            throw r.error("webhook_listen", "is not a loopback address and no certificate is set, so notifications would cross the network in clear",
                          fix: "listen on 127.0.0.1 behind a reverse proxy that terminates TLS, set webhook_tls_certificate and webhook_tls_key, or set webhook_listen_public = true")
        }
        var settings = WebhookSettings(host: host, port: port, secretFile: secretFile, tlsCertificate: certificate, tlsKey: key)
        if let maxSkew {
            guard maxSkew >= .seconds(1), maxSkew <= .seconds(3600) else {
                throw r.error("webhook_max_skew", "must be from 1s to 1h: it bounds how long a captured request could be replayed",
                              fix: "webhook_max_skew = \"300s\"")
            }
            settings.maxSkew = maxSkew
        }
        return settings
    }

    /// The shared secret, read as the ServiceNow secrets are; too short a secret fails like a bad key.
    public func readSecret(configFile: String,
                           environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> String {
        let secret = try SecretFile.read(secretFile, key: "daemon.webhook_secret_file", configFile: configFile, environment: environment)
        guard secret.utf8.count >= Self.minimumSecretBytes else {
            throw ConfigError(file: configFile, key: "daemon.webhook_secret_file",
                              problem: "the webhook secret is \(secret.utf8.count) bytes; at least \(Self.minimumSecretBytes) are needed",
                              fix: "write a longer random secret into it (openssl rand -hex 32) and the same into ServiceNow")
        }
        return secret
    }
}
