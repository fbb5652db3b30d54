import Foundation
import Testing
import TestSupport

/// The daemon, as built, against the simulator, with rows inserted by the sqlite3 CLI.
@Suite(.serialized, .ownThreads) struct DaemonFlowTests {
    static func project(_ name: String, command: String, controlled: Bool = true, extra: String = "") -> String {
        """
        [projects.\(name)]
        change_controlled = \(controlled)
        connection = "sim"
        command = ["\(command)"]
        kill_grace = "2s"
        \(extra)
        """
    }

    @Test func notChangeControlledRunsWithoutServiceNow() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        let deploy = try d.script("deploy.sh", "echo \"deploying $CHANGEGATE_PROJECT $CHANGEGATE_RELEASE to $CHANGEGATE_ENVIRONMENT flag=$FLAG\"; env > \(d.dir)/child-env")
        try d.configure(Self.project("web", command: deploy))
        try await d.startAndWait()
        let id = try insert(d.database, ["project": "web", "environment": "Test", "release": "1.0", "variables": #"{"FLAG":"on"}"#])
        #expect(try await d.waitForTerminal(id) == "succeeded")
        #expect(try d.column(id, "outcome") == "not_change_controlled")
        #expect(try d.column(id, "change_number") == "")
        #expect(try d.column(id, "exit_code") == "0")
        #expect(d.taskLog(id).contains("[stdout] deploying web 1.0 to Test flag=on"))
        let env = try String(contentsOfFile: "\(d.dir)/child-env", encoding: .utf8)
        #expect(env.contains("CHANGEGATE_TASK_ID=\(id)"))
        #expect(!env.contains("never-in-a-child"), "the daemon's environment does not leak into the child")
        #expect(!env.contains("NOTIFY_SOCKET") && !env.contains("CREDENTIALS_DIRECTORY"))
        #expect(try await sim.requestTotal() == 0, "no ServiceNow request for an uncontrolled deployment")
    }

    @Test func newNormalChangeIsCreatedApprovedRunNotedAndMovedToReview() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        let deploy = try d.script("deploy.sh", "echo \"change=$CHANGEGATE_CHANGE_NUMBER\"")
        try d.configure(Self.project("web-shop", command: deploy, extra: "close_change = \"review\"\n[projects.web-shop.change_fields]\nassignment_group = \"CAB\""))
        try await d.startAndWait()
        let id = try insert(d.database, ["project": "web-shop", "environment": "Production", "release": "2.4.1", "requested_by": "alice"])
        _ = try await d.waitForState(id, ["awaiting_approval"])
        let number = try d.column(id, "change_number")
        #expect(number.hasPrefix("CHG"))
        #expect(try d.column(id, "change_link") == "created_normal")
        var change = try await sim.change(number)
        #expect(change["short_description"] as? String == #"changegate: Deploy "web-shop" version 2.4.1 to "Production""#)
        #expect(change["type"] as? String == "normal")
        #expect((change["correlation_id"] as? String)?.hasSuffix("-\(id)") == true)
        #expect((change["description"] as? String)?.contains("Requested by: alice") == true)
        // Still waiting while New: nothing runs.
        try await Task.sleep(for: .seconds(1))
        #expect(try d.state(id) == "awaiting_approval")
        try await sim.setState(number, -1)
        #expect(try await d.waitForTerminal(id) == "succeeded")
        #expect(try d.column(id, "outcome") == "succeeded")
        #expect(d.taskLog(id).contains("[stdout] change=\(number)"))
        change = try await sim.change(number)
        let notes = (change["work_notes"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
        #expect(notes.count == 2, "a note at the start and one at the end: \(notes)")
        #expect(notes.contains { $0.contains("starting the deployment") })
        #expect(notes.contains { $0.contains("outcome: succeeded") && $0.contains("exit code: 0") })
        #expect(change["state"] as? Int == 0, "moved to Review")
        #expect(change["close_code"] as? String == "successful")
    }

    @Test func standardChangeFromTemplate() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        let deploy = try d.script("deploy.sh", "true")
        try d.configure(Self.project("api", command: deploy, extra: "change_template = \"changegate demo: standard deploy\""))
        try await d.startAndWait()
        let id = try insert(d.database, ["project": "api", "environment": "Production", "release": "7"])
        _ = try await d.waitForState(id, ["awaiting_approval", "implement_check", "executing", "succeeded"])
        let number = try d.column(id, "change_number")
        #expect(try d.column(id, "change_link") == "created_standard")
        let change = try await sim.change(number)
        #expect(change["type"] as? String == "standard")
        #expect(change["approval"] as? String == "approved")
        if try d.state(id) == "awaiting_approval" { try await sim.setState(number, -1) }
        #expect(try await d.waitForTerminal(id) == "succeeded")
    }

    @Test func unknownTemplateFailsClearly() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        let deploy = try d.script("deploy.sh", "true")
        try d.configure(Self.project("api", command: deploy, extra: "change_template = \"No such template\""))
        try await d.startAndWait()
        let id = try insert(d.database, ["project": "api", "environment": "Production", "release": "7"])
        #expect(try await d.waitForTerminal(id) == "failed")
        #expect(try d.column(id, "outcome") == "servicenow_error")
        #expect(try d.column(id, "reason").contains("\"No such template\" was not found"))
        #expect(try d.cli(["status"]).stdout.contains("No such template"), "status shows the latest integration errors")
    }
}
