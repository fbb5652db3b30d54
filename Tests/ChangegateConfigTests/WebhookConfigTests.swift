import Foundation
import Testing
@testable import ChangegateConfig

/// `[daemon] webhook_*`: each bad value fails with the file, key and a fix.
@Suite struct WebhookConfigTests {
    func parse(_ daemonKeys: String) throws(ConfigError) -> ChangegateConfiguration {
        try ConfigLoader.parse("[daemon]\ndatabase = \"/tmp/cg.db\"\n\(daemonKeys)\n", path: "t.toml")
    }

    @Test func offUnlessListenIsSet() throws {
        #expect(try parse("").daemon.webhook == nil)
    }

    @Test func parsesTheKeys() throws {
        let w = try #require(try parse("""
            webhook_listen = "0.0.0.0:8443"
            webhook_secret_file = "changegate-webhook-secret"
            webhook_tls_certificate = "/etc/changegate/webhook.pem"
            webhook_tls_key = "/etc/changegate/webhook.key"
            webhook_max_skew = "2m"
            """).daemon.webhook)
        #expect(w.host == "0.0.0.0" && w.port == 8443)
        #expect(w.secretFile == "changegate-webhook-secret")
        #expect(w.tlsCertificate == "/etc/changegate/webhook.pem" && w.tlsKey == "/etc/changegate/webhook.key")
        #expect(w.maxSkew == .seconds(120))
        let loopback = try #require(try parse("webhook_listen = \"127.0.0.1:8443\"\nwebhook_secret_file = \"s\"").daemon.webhook)
        #expect(loopback.maxSkew == .seconds(300) && loopback.tlsCertificate == nil)
        #expect(try parse("webhook_listen = \"[::]:8443\"\nwebhook_secret_file = \"s\"\nwebhook_listen_public = true").daemon.webhook?.host == "::")
    }

    @Test(arguments: [
        ("webhook_listen = \"8443\"\nwebhook_secret_file = \"s\"", "daemon.webhook_listen"),
        ("webhook_listen = \"unix:/run/cg.sock\"\nwebhook_secret_file = \"s\"", "daemon.webhook_listen"),
        ("webhook_listen = \"127.0.0.1:8443\"", "daemon.webhook_secret_file"),
        ("webhook_listen = \"0.0.0.0:8443\"\nwebhook_secret_file = \"s\"", "daemon.webhook_listen"),
        ("webhook_listen = \"127.0.0.1:8443\"\nwebhook_secret_file = \"s\"\nwebhook_tls_certificate = \"/c.pem\"", "daemon.webhook_tls_key"),
        ("webhook_listen = \"127.0.0.1:8443\"\nwebhook_secret_file = \"s\"\nwebhook_tls_key = \"/c.key\"", "daemon.webhook_tls_certificate"),
        ("webhook_listen = \"127.0.0.1:8443\"\nwebhook_secret_file = \"s\"\nwebhook_tls_certificate = \"c.pem\"\nwebhook_tls_key = \"/c.key\"", "daemon.webhook_tls_certificate"),
        ("webhook_listen = \"127.0.0.1:8443\"\nwebhook_secret_file = \"s\"\nwebhook_max_skew = \"2h\"", "daemon.webhook_max_skew"),
        ("webhook_listen = \"127.0.0.1:8443\"\nwebhook_secret_file = \"s\"\nwebhook_max_skew = \"soon\"", "daemon.webhook_max_skew"),
        ("webhook_secret_file = \"s\"", "daemon.webhook_secret_file"),
        ("webhook_listen = \"127.0.0.1:8443\"\nwebhook_secret_file = \"s\"\nwebhook_listn_public = true", "daemon.webhook_listn_public"),
    ])
    func badValuesNameTheKey(keys: String, key: String) {
        #expect {
            _ = try parse(keys)
        } throws: { e in
            let e = e as! ConfigError
            return e.key == key && e.file == "t.toml" && e.line != nil && !e.fix.isEmpty
        }
    }

    @Test func theSecretMustBeLongEnough() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cg-webhook-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = try #require(try parse("webhook_listen = \"127.0.0.1:8443\"\nwebhook_secret_file = \"webhook\"").daemon.webhook)
        let env = ["CREDENTIALS_DIRECTORY": dir]
        try "short\n".write(toFile: "\(dir)/webhook", atomically: true, encoding: .utf8)
        #expect {
            _ = try w.readSecret(configFile: "t.toml", environment: env)
        } throws: { e in
            let e = e as! ConfigError
            return e.key == "daemon.webhook_secret_file" && e.problem.contains("5 bytes") && !e.description.contains("short")
        }
        let long = String(repeating: "k", count: 32)
        try "\(long)\n".write(toFile: "\(dir)/webhook", atomically: true, encoding: .utf8)
        #expect(try w.readSecret(configFile: "t.toml", environment: env) == long)
        #expect(throws: ConfigError.self) { try w.readSecret(configFile: "t.toml", environment: [:]) }
    }
}
