import Foundation
import Testing
@testable import ChangegateConfig

private let valid = """
[daemon]
database = "/tmp/cg.db"
poll_interval = "2s"

[servicenow.default]
url = "https://acme.service-now.com"
client_id = "changegate"
username = "svc.changegate"
client_secret_file = "servicenow-default-client-secret"
password_file = "servicenow-default-password"

[environments.Production]
change_controlled = true

[environments.Test]

[projects.web-shop]
change_controlled = true
command = ["/usr/local/bin/deploy-web", "--verbose"]
close_change = "review"
approval_timeout = "1h"
execution_timeout = 600

[projects.web-shop.change_fields]
assignment_group = "CAB"
"""

@Suite struct ConfigTests {
    @Test func parsesAValidFile() throws {
        let c = try ConfigLoader.parse(valid, path: "t.toml")
        #expect(c.daemon.database == "/tmp/cg.db")
        #expect(c.daemon.pollInterval == .seconds(2))
        #expect(c.connections["default"]?.auth == .password)
        let p = try #require(c.projects["web-shop"])
        #expect(p.connection == "default")
        #expect(p.closeChange == .review)
        #expect(p.approvalTimeout == .seconds(3600))
        #expect(p.executionTimeout == .seconds(600))
        #expect(p.changeFields == ["assignment_group": "CAB"])
        #expect(c.isChangeControlled(project: "web-shop", environment: "Production"))
        #expect(!c.isChangeControlled(project: "web-shop", environment: "Test"))
        #expect(p.title(release: "2.4.1", environment: "Production") == #"changegate: Deploy "web-shop" version 2.4.1 to "Production""#)
    }

    @Test func syntaxErrorNamesTheLine() {
        #expect {
            _ = try ConfigLoader.parse("[daemon]\ndatabase = \n", path: "bad.toml")
        } throws: { e in
            let e = e as! ConfigError
            return e.file == "bad.toml" && e.line == 2 && e.description.contains("bad.toml:2")
        }
    }

    @Test func unknownKeyIsReportedWithASuggestionAndLine() {
        let text = valid.replacingOccurrences(of: "close_change = \"review\"", with: "close_chnge = \"review\"")
        #expect {
            _ = try ConfigLoader.parse(text, path: "t.toml")
        } throws: { e in
            let e = e as! ConfigError
            return e.key == "projects.web-shop.close_chnge" && e.fix.contains("did you mean close_change?") && e.line == 20
        }
    }

    @Test(arguments: [
        ("command = [\"/usr/local/bin/deploy-web\", \"--verbose\"]", "command = []", "projects.web-shop.command"),
        ("command = [\"/usr/local/bin/deploy-web\", \"--verbose\"]", "command = [\"deploy-web\"]", "projects.web-shop.command"),
        ("poll_interval = \"2s\"", "poll_interval = \"soon\"", "daemon.poll_interval"),
        ("url = \"https://acme.service-now.com\"", "url = \"acme\"", "servicenow.default.url"),
        ("password_file = \"servicenow-default-password\"", "password = \"hunter2\"", "servicenow.default.password"),
        ("close_change = \"review\"", "close_change = \"archive\"", "projects.web-shop.close_change"),
        ("[projects.web-shop]\nchange_controlled = true", "[projects.web-shop]\nchange_controlled = true\nconnection = \"other\"", "projects.web-shop.connection"),
    ])
    func badValuesNameTheKey(original: String, replacement: String, key: String) {
        let text = valid.replacingOccurrences(of: original, with: replacement)
        #expect(text != valid)
        #expect {
            _ = try ConfigLoader.parse(text, path: "t.toml")
        } throws: { e in
            let e = e as! ConfigError
            return e.key == key && !e.fix.isEmpty && !e.description.contains("hunter2")
        }
    }

    @Test func secretFilesMustBePrivate() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cg-secret-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/secret"
        try "s3cret\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        #expect(throws: ConfigError.self) { try SecretFile.read(path, key: "k", configFile: "c") }
        chmod(path, 0o600)
        #expect(try SecretFile.read(path, key: "k", configFile: "c") == "s3cret")
        #expect(try SecretFile.read("secret", key: "k", configFile: "c", environment: ["CREDENTIALS_DIRECTORY": dir]) == "s3cret")
        #expect(throws: ConfigError.self) { try SecretFile.read("secret", key: "k", configFile: "c", environment: [:]) }
    }

    @Test func durations() {
        #expect(TableReader.parseDuration("500ms") == .milliseconds(500))
        #expect(TableReader.parseDuration("72h") == .seconds(72 * 3600))
        #expect(TableReader.parseDuration("1.5s") == .milliseconds(1500))
        #expect(TableReader.parseDuration("x") == nil)
    }
}
