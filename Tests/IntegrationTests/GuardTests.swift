import Foundation
import Testing
import TestSupport

/// Rejection, aborts, reuse of one change, cancellation and bad rows.
@Suite(.serialized, .ownThreads) struct GuardTests {
    @Test func existingChangeByNumberIsReusedAndClosedOnlyAfterTheLastUser() async throws {
        let sim = try await SimulatorProcess()
        let change = try await sim.createChange(["short_description": "Release train 42", "type": "normal", "state": -1, "approval": "approved"])
        let number = change["number"] as! String
        let d = try DaemonProcess(simulator: sim, projects: "")
        let deploy = try d.script("deploy.sh", "sleep ${HOLD:-0}")
        try d.configure(DaemonFlowTests.project("web", command: deploy, extra: "close_change = \"closed\"\nmax_concurrent = 2")
                        + "\n[environments.Staging]\nchange_controlled = true")
        try await d.startAndWait()
        // Both rows in one transaction, so the daemon takes them in together; b runs well past a, so a finishes
        // while b still deploys under the change.
        try sqlite3(d.database, """
            BEGIN;
            INSERT INTO deployments (project, environment, release, change_number) VALUES ('web', 'Staging', '3', '\(number)');
            INSERT INTO deployments (project, environment, release, change_number, variables) VALUES ('web', 'Production', '3', '\(number)', '{"HOLD":"4"}');
            COMMIT;
            """)
        let ids = try sqlite3(d.database, "SELECT id FROM deployments ORDER BY id").split(separator: "\n").compactMap { Int64($0) }
        try #require(ids.count == 2)
        let (a, b) = (ids[0], ids[1])
        #expect(try await d.waitForTerminal(a) == "succeeded")
        #expect(try await d.waitForTerminal(b) == "succeeded")
        #expect(try d.column(a, "change_number") == number)
        #expect(try d.column(b, "change_number") == number)
        #expect(try d.column(a, "change_link") == "given_number")
        let after = try await sim.change(number)
        #expect(after["state"] as? Int == 3, "closed once both finished")
        #expect(after["close_code"] as? String == "successful")
        #expect(d.taskLog(a).contains("still use it"), "the first to finish left the change open for the other")
        #expect(try await sim.changes().count == 1, "no change was created")
    }

    @Test func unknownChangeNumberFailsNamingIt() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "true")))
        try await d.startAndWait()
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "3", "change_number": "CHG9999999"])
        #expect(try await d.waitForTerminal(id) == "failed")
        #expect(try d.column(id, "outcome") == "change_not_found")
        #expect(try d.column(id, "reason").contains("CHG9999999"))
    }

    @Test func titleMatchReusesAnOpenChange() async throws {
        let sim = try await SimulatorProcess()
        let existing = try await sim.createChange(["short_description": #"changegate: Deploy "web" version 5 to "Production""#, "state": -3])
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "true")))
        try await d.startAndWait()
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "5"])
        _ = try await d.waitForState(id, ["awaiting_approval"])
        #expect(try d.column(id, "change_number") == existing["number"] as! String)
        #expect(try d.column(id, "change_link") == "title_match")
    }

    @Test func rejectedChangeFailsWithTheComment() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "touch \(d.dir)/must-not-run")))
        try await d.startAndWait()
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "9"])
        _ = try await d.waitForState(id, ["awaiting_approval"])
        let number = try d.column(id, "change_number")
        try await sim.setState(number, -3)
        try await sim.reject(number, as: "Bob CAB", comments: "Not during the freeze")
        #expect(try await d.waitForTerminal(id) == "failed")
        #expect(try d.column(id, "outcome") == "change_rejected")
        #expect(try d.column(id, "reason").contains("Not during the freeze"))
        #expect(try d.column(id, "started_at") == "", "the deploy command never started")
        let notes = (try await sim.change(number)["work_notes"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
        #expect(notes.contains { $0.contains("outcome: change_rejected") })
    }

    @Test func changeLeavingImplementStopsTheRunningDeployment() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        let deploy = try d.script("deploy.sh", "echo $$ > \(d.dir)/pid; sleep 300 & echo $! > \(d.dir)/grandchild; wait")
        try d.configure(DaemonFlowTests.project("web", command: deploy))
        try await d.startAndWait()
        let change = try await sim.createChange(["short_description": "pull me", "state": -1, "approval": "approved"])
        let number = change["number"] as! String
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "1", "change_number": number])
        _ = try await d.waitForState(id, ["executing"])
        try await eventually("the grandchild to start") { FileManager.default.fileExists(atPath: "\(d.dir)/grandchild") }
        let grandchild = pid_t(try String(contentsOfFile: "\(d.dir)/grandchild", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))!
        try await sim.setState(number, 0)
        #expect(try await d.waitForTerminal(id) == "failed")
        #expect(try d.column(id, "outcome") == "change_left_implement")
        #expect(try d.column(id, "reason").contains("Review"))
        try await eventually("the grandchild to be stopped", timeout: .seconds(5)) { processGone(grandchild) }
        let notes = (try await sim.change(number)["work_notes"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
        #expect(notes.contains { $0.contains("outcome: change_left_implement") })
    }

    @Test func windowInThePastFailsAndFutureWindowWaits() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "true")))
        try await d.startAndWait()
        let past = try await sim.createChange(["short_description": "past", "state": -1, "approval": "approved",
                                               "start_date": "2020-01-01 00:00:00", "end_date": "2020-01-02 00:00:00"])
        let future = try await sim.createChange(["short_description": "future", "state": -1, "approval": "approved",
                                                 "start_date": "2099-01-01 00:00:00", "end_date": "2099-01-02 00:00:00"])
        let a = try insert(d.database, ["project": "web", "environment": "Production", "release": "1", "change_number": past["number"] as? String])
        let b = try insert(d.database, ["project": "web", "environment": "Production", "release": "2", "change_number": future["number"] as? String])
        #expect(try await d.waitForTerminal(a) == "failed")
        #expect(try d.column(a, "outcome") == "change_window_closed")
        try await Task.sleep(for: .seconds(1))
        #expect(try d.state(b) == "awaiting_approval", "Implement but before the window: waits")
    }

    @Test func cancelWhileWaitingAndWhileRunning() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "sleep 300"), extra: "max_concurrent = 2"))
        try await d.startAndWait()
        let waiting = try insert(d.database, ["project": "web", "environment": "Production", "release": "1"])
        let running = try insert(d.database, ["project": "web", "environment": "Test", "release": "1"])
        _ = try await d.waitForState(waiting, ["awaiting_approval"])
        _ = try await d.waitForState(running, ["executing"])
        #expect(try d.cli(["cancel", "\(waiting)"]).status == 0)
        _ = try sqlite3(d.database, "UPDATE deployments SET cancel_requested = 1 WHERE id = \(running)")
        #expect(try await d.waitForTerminal(waiting) == "cancelled")
        #expect(try await d.waitForTerminal(running) == "cancelled")
        let notes = (try await sim.change(try d.column(waiting, "change_number"))["work_notes"] as? [[String: Any]] ?? [])
        #expect(notes.contains { ($0["text"] as? String)?.contains("outcome: cancelled") == true }, "a cancelled run is noted too")
        let again = try d.cli(["cancel", "\(waiting)"])
        #expect(again.status == 1 && again.stderr.contains("already finished"))
        #expect(try d.cli(["cancel", "999"]).status == 4)
    }

    @Test func badRowsFailWithTheirReasonAndGoodRowsRun() async throws {
        let d = try DaemonProcess(simulator: nil, projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "true"), controlled: false, extra: "max_concurrent = 4"))
        try await d.startAndWait()
        let bad: [([String: String?], String)] = [
            (["project": "nope", "environment": "Test", "release": "1"], "project: unknown project"),
            (["project": "web", "environment": "Nowhere", "release": "1"], "environment: unknown environment"),
            (["project": "web", "environment": "Test", "release": nil], "release: is missing"),
            (["project": "web", "environment": "Test", "release": "1", "variables": "{oops"], "variables: is not valid JSON"),
            (["project": "web", "environment": "Test", "release": "1", "variables": #"{"A=B":"x"}"#], "variables: name"),
            (["project": "web", "environment": "Test", "release": "1", "not_before": "tomorrow"], "not_before:"),
            (["project": "web", "environment": "Test", "release": "1'; DROP TABLE deployments; --"], ""),
        ]
        var ids: [(Int64, String)] = []
        for (row, reason) in bad { ids.append((try insert(d.database, row), reason)) }
        let good = try insert(d.database, ["project": "web", "environment": "Test", "release": "2"])
        for (id, reason) in ids {
            let end = try await d.waitForTerminal(id)
            if reason.isEmpty {
                #expect(end == "succeeded", "an SQL-looking release is just text")
            } else {
                #expect(end == "failed")
                #expect(try d.column(id, "outcome") == "invalid_request")
                let actual = try d.column(id, "reason")
                #expect(actual.hasPrefix(reason), "\(actual)")
            }
        }
        #expect(try await d.waitForTerminal(good) == "succeeded")
        #expect(d.process?.isRunning == true, "the daemon stays up")
    }
}
