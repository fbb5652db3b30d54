import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `changegate doctor` against the simulator, and the integration errors the daemon records for `status`.
@Suite(.serialized, .ownThreads) struct DoctorTests {
    static func doctor(_ d: DaemonProcess, _ extra: [String] = []) throws -> CommandResult {
        try run(Binaries.changegate, ["doctor", "--config", d.configPath] + extra)
    }

    /// The simulator user the connection logs in as.
    static func setUser(_ d: DaemonProcess, _ user: String) throws {
        let text = try String(contentsOfFile: d.configPath, encoding: .utf8)
        try text.replacingOccurrences(of: "username = \"svc.changegate\"", with: "username = \"\(user)\"")
            .write(toFile: d.configPath, atomically: true, encoding: .utf8)
    }

    /// The line of check `name` in doctor's text output.
    static func line(_ r: CommandResult, _ name: String) -> String {
        r.stdout.split(separator: "\n").first { $0.contains(" \(name): ") }.map(String.init) ?? "(no line for \(name))"
    }

    @Test func aHealthySetupPasses() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("api", command: try d.script("deploy.sh", "true"), extra: "change_template = \"changegate demo: standard deploy\""))
        try await d.startAndWait()
        _ = try await sim.createChange(["short_description": "an existing change"])  // the delta-poll check compares answers
        let r = try Self.doctor(d)
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        for name in ["config", "database writable", "database WAL", "database schema", "servicenow.sim DNS", "servicenow.sim TCP",
                     "servicenow.sim OAuth token", "servicenow.sim read changes", "servicenow.sim delta poll", "servicenow.sim template \"changegate demo: standard deploy\"",
                     "servicenow.sim write access", "servicenow.sim clock"] {
            #expect(Self.line(r, name).hasPrefix("OK "), "\(Self.line(r, name))")
        }
        #expect(Self.line(r, "servicenow.sim TLS").hasPrefix("SKIP"), "plain http is not TLS, and doctor says so")

        let json = try Self.doctor(d, ["--json", "--connection", "sim"])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["ok"] as? Bool == true)
        let checks = object["checks"] as? [[String: Any]] ?? []
        #expect(checks.contains { $0["name"] as? String == "servicenow.sim clock" && $0["status"] as? String == "ok" })
        #expect(try Self.doctor(d, ["--connection", "nope"]).status == 64)
    }

    @Test func aWrongSecretShowsTheInstancesAnswer() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "", clientSecret: "not-the-secret")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "true")))
        try await d.startAndWait()
        let r = try Self.doctor(d)
        #expect(r.status == 6)
        let token = Self.line(r, "servicenow.sim OAuth token")
        #expect(token.hasPrefix("FAIL") && token.contains("HTTP 401") && token.contains("access_denied"), "\(token)")
        #expect(r.stdout.contains("fix: check servicenow.sim.client_id, the client secret file"))
        #expect(Self.line(r, "servicenow.sim read changes").hasPrefix("SKIP"))
        #expect(!r.stdout.contains("not-the-secret"), "doctor never prints a secret")

        // The daemon records it for `status`.
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "1"])
        #expect(try await d.waitForTerminal(id) == "failed")
        #expect(try d.column(id, "outcome") == "servicenow_error")
        #expect(try d.cli(["status"]).stdout.contains("rejected the credentials"))
    }

    @Test func aReaderMayReadButNotWrite() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        try Self.setUser(d, "reader")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "true"), extra: "close_change = \"review\""))
        try await d.startAndWait()
        let r = try Self.doctor(d)
        #expect(r.status == 6)
        #expect(Self.line(r, "servicenow.sim read changes").hasPrefix("OK "))
        let write = Self.line(r, "servicenow.sim write access")
        #expect(write.hasPrefix("FAIL") && write.contains("HTTP 403"), "\(write)")
        #expect(r.stdout.contains("fix: give reader the role sn_change_write or itil"))

        // A deployment under a given change runs (reading is enough), but the change cannot be noted or closed:
        // the 403 is an integration error in `status`, and the audit trail says the update failed.
        let number = try await sim.createChange(["short_description": "given", "state": -1])["number"] as! String
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "1", "change_number": number])
        #expect(try await d.waitForTerminal(id) == "succeeded")
        try await eventually("status to show the 403") { try d.cli(["status"]).stdout.contains("ACL Exception Update Failed") }
        #expect(try sqlite3(d.database, "SELECT count(*) FROM audit_log WHERE task_id = \(id) AND kind = 'change_update_failed'") == "2",
                "the closing work note and the move to Review were both refused")
    }

    @Test func aUserWithoutRolesCannotRead() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        try Self.setUser(d, "norole")
        try d.configure(DaemonFlowTests.project("api", command: try d.script("deploy.sh", "true"), extra: "change_template = \"changegate demo: standard deploy\""))
        try await d.startAndWait()
        let r = try Self.doctor(d)
        #expect(r.status == 6)
        #expect(Self.line(r, "servicenow.sim OAuth token").hasPrefix("OK "), "the login works; the roles are missing")
        let read = Self.line(r, "servicenow.sim read changes")
        #expect(read.hasPrefix("FAIL") && read.contains("ACL Exception Read Failed"), "\(read)")
        #expect(r.stdout.contains("fix: give norole the role sn_change_read (or itil)"))
        #expect(Self.line(r, "servicenow.sim templates").hasPrefix("SKIP"))
        #expect(Self.line(r, "servicenow.sim write access").hasPrefix("FAIL"))

        let id = try insert(d.database, ["project": "api", "environment": "Production", "release": "1"])
        #expect(try await d.waitForTerminal(id) == "failed")
        #expect(try d.column(id, "reason").contains("ACL Exception Read Failed"))
        #expect(try d.cli(["status"]).stdout.contains("ACL Exception Read Failed"))
    }

    @Test func anUnknownTemplateIsNamedWithItsKey() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("api", command: try d.script("deploy.sh", "true"), extra: "change_template = \"No such template\""))
        try await d.startAndWait()
        let r = try Self.doctor(d)
        #expect(r.status == 6)
        let template = Self.line(r, "servicenow.sim template \"No such template\"")
        #expect(template.hasPrefix("FAIL") && template.contains("projects.api.change_template"), "\(template)")
        #expect(Self.line(r, "servicenow.sim write access").hasPrefix("OK "), "the other checks still run")
    }

    @Test func aMissingCIIsNamedWithItsKey() async throws {
        let sim = try await SimulatorProcess()
        _ = try await HTTP.json(.POST, "\(sim.base)/_sim/cis", body: ["name": "api-prod-01"])
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("api", command: try d.script("deploy.sh", "true"), extra: """
            cmdb_ci = "api-prod-01"
            [projects.api.environments.Production]
            cmdb_ci = ["api-prod-01", "api-prod-02"]
            """))
        try await d.startAndWait()
        let r = try Self.doctor(d)
        #expect(r.status == 6, "\(r.stdout)\n\(r.stderr)")
        let found = Self.line(r, "servicenow.sim CI \"api-prod-01\"")
        #expect(found.hasPrefix("OK ") && found.contains("projects.api.cmdb_ci") && found.contains("projects.api.environments.Production.cmdb_ci"), "\(found)")
        let missing = Self.line(r, "servicenow.sim CI \"api-prod-02\"")
        #expect(missing.hasPrefix("FAIL") && missing.contains("projects.api.environments.Production.cmdb_ci"), "\(missing)")
        #expect(!missing.contains("projects.api.cmdb_ci"), "only the key that names it")
        #expect(Self.line(r, "servicenow.sim write access").hasPrefix("OK "), "the other checks still run")
    }

    @Test func aClosedPortFailsAtTCPAndAMissingDatabaseIsNamed() throws {
        let port = try freeLoopbackPort()
        let d = try DaemonProcess(simulator: nil, projects: "")
        try d.configure("""
            [servicenow.down]
            url = "http://127.0.0.1:\(port)"
            client_id = "changegate"
            client_secret_file = "\(d.dir)/client-secret"
            username = "svc.changegate"
            password_file = "\(d.dir)/password"
            """)
        let r = try Self.doctor(d)
        #expect(r.status == 6)
        #expect(Self.line(r, "servicenow.down DNS").hasPrefix("OK "))
        let tcp = Self.line(r, "servicenow.down TCP")
        #expect(tcp.hasPrefix("FAIL") && tcp.contains("Connection refused"), "\(tcp)")
        #expect(Self.line(r, "servicenow.down OAuth token").hasPrefix("SKIP"))
        #expect(Self.line(r, "database").hasPrefix("FAIL") && Self.line(r, "database").contains("does not exist"))
    }
}
