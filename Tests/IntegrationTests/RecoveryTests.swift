import Foundation
import Testing
import TestSupport

/// Crashes, restarts, a second daemon, a bad config, and what polling costs.
@Suite(.serialized, .ownThreads) struct RecoveryTests {
    @Test func killNineRightAfterTheChangeIsCreatedNeverMakesASecondChange() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "true")))
        // The create call is processed at once but answered 10 s later: the window in which the change exists
        // in ServiceNow and not yet in the database (wide, so a busy machine still sees it).
        try await sim.faults(["response_delay_ms": 10000, "response_delay_paths": ["/api/sn_chg_rest/change/normal"]])
        try await d.startAndWait()
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "1"])
        var correlation = ""
        try await eventually("the change to exist in ServiceNow") {
            correlation = try d.column(id, "correlation_id")
            if correlation.isEmpty { return false }
            return try await sim.changes(correlationID: correlation).count == 1
        }
        #expect(try d.column(id, "change_number") == "", "the database has not recorded it yet")
        d.kill9()
        try await sim.faults([:])
        try d.start()
        _ = try await d.waitForState(id, ["awaiting_approval"])
        let changes = try await sim.changes(correlationID: correlation)
        #expect(changes.count == 1, "exactly one change for the task")
        #expect(try d.column(id, "change_number") == changes.first?["number"] as? String)
        #expect(try d.column(id, "change_link") == "correlation_match")
    }

    @Test func executingRowWhoseChildIsGoneBecomesInterruptedWithANote() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        let marker = "\(d.dir)/runs"
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "echo run >> \(marker); sleep 300")))
        try await d.startAndWait()
        let change = try await sim.createChange(["short_description": "crash", "state": -1, "approval": "approved"])
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "1", "change_number": change["number"] as? String])
        _ = try await d.waitForState(id, ["executing"])
        try await eventually("the child to run") { FileManager.default.fileExists(atPath: marker) }
        let pid = Int32(try d.column(id, "child_pid"))!
        d.kill9()
        try d.start()
        #expect(try await d.waitForTerminal(id) == "failed")
        #expect(try d.column(id, "outcome") == "interrupted")
        try await eventually("the orphaned group to be stopped", timeout: .seconds(5)) { processGone(pid) }
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "run\n", "never re-run")
        let notes = (try await sim.change(change["number"] as! String)["work_notes"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
        #expect(notes.contains { $0.contains("outcome: interrupted") })
    }

    @Test func waitingRowsResumeAfterARestart() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "true")))
        try await d.startAndWait()
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "1"])
        _ = try await d.waitForState(id, ["awaiting_approval"])
        d.stop()
        try await sim.setState(try d.column(id, "change_number"), -1)
        try d.start()
        #expect(try await d.waitForTerminal(id) == "succeeded")
        #expect(try await sim.changes().count == 1)
    }

    @Test func aSecondDaemonOnTheSameDatabaseRefusesToStart() async throws {
        let d = try DaemonProcess(simulator: nil, projects: "")
        try await d.startAndWait()
        let second = try run(Binaries.changegate, ["daemon", "--config", d.configPath])
        #expect(second.status == 7)
        #expect(second.stderr.contains("another changegate daemon (pid \(d.process!.processIdentifier))"))
    }

    @Test func aBadConfigFailsStartUpNamingFileKeyAndFix() throws {
        let d = try DaemonProcess(simulator: nil, projects: "[projects.web]\ncommand = [\"relative/deploy\"]\n")
        let r = try run(Binaries.changegate, ["daemon", "--config", d.configPath])
        #expect(r.status == 3)
        #expect(r.stderr.contains("\(d.configPath):"))
        #expect(r.stderr.contains("projects.web.command"))
        #expect(r.stderr.contains("fix:"))
    }

    @Test func pollingCostFollowsChangesNotDeployments() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, pollInterval: "1s", projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "true")))
        var numbers: [String] = []
        for i in 0..<250 {
            numbers.append(try await sim.createChange(["short_description": "wait \(i)", "state": -3])["number"] as! String)
        }
        try await d.startAndWait()
        let values = numbers.map { "('web', 'Production', '1', '\($0)')" }.joined(separator: ", ")
        try sqlite3(d.database, "INSERT INTO deployments (project, environment, release, change_number) VALUES \(values);")
        try await eventually("all 250 to wait", timeout: .seconds(60)) {
            try sqlite3(d.database, "SELECT count(*) FROM deployments WHERE state = 'awaiting_approval'") == "250"
        }
        try await Task.sleep(for: .seconds(3))  // the reads by number of the newly watched changes are done
        try await sim.resetRequests()
        try await Task.sleep(for: .milliseconds(5500))
        let requests = try await sim.requests()
        let lists = ((requests["by_endpoint"] as? [String: Any])?["GET /api/now/table/change_request"] as? Int) ?? 0
        let total = requests["total"] as! Int
        // 250 waiting deployments, nothing changing → one delta read per cycle; about 5 cycles in 5.5 s.
        #expect(lists >= 3 && lists <= 7, "list requests: \(lists)")
        #expect(total <= lists + 1, "nothing but the delta reads (and perhaps a token): \(requests["by_endpoint"] ?? "")")
    }
}
