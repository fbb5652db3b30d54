import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import TestSupport

/// The schedule-aware gate, the evidence and the close-out (docs/schedule-gate.md), end to end: the built daemon
/// against the simulator, blackouts, CIs and faults set through its control API, rows inserted by the sqlite3 CLI.
@Suite(.serialized, .ownThreads) struct ScheduleGateTests {
    // MARK: helpers

    /// A Glide date-time (UTC), as the simulator's control API takes it.
    static func glide(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: date)
    }

    static func addCI(_ sim: SimulatorProcess, _ name: String, maintenance: [[String: Any]]? = nil) async throws {
        var body: [String: Any] = ["name": name]
        if let maintenance { body["maintenance"] = maintenance }
        _ = try await HTTP.json(.POST, "\(sim.base)/_sim/cis", body: body)
    }

    /// A blackout for every change (or for those touching `cis`) from `start` to `end`.
    static func addBlackout(_ sim: SimulatorProcess, _ name: String, from start: Date, to end: Date, cis: [String]? = nil) async throws {
        var body: [String: Any] = ["name": name, "start": glide(start), "end": glide(end)]
        if let cis { body["cis"] = cis }
        _ = try await HTTP.json(.POST, "\(sim.base)/_sim/blackouts", body: body)
    }

    static func removeBlackout(_ sim: SimulatorProcess, _ name: String) async throws {
        _ = try await HTTP.json(.DELETE, "\(sim.base)/_sim/blackouts/\(name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed)!)")
    }

    /// A normal change in Implement on `ci`, planned from an hour ago to two hours from now (a conflict check
    /// needs a CI and both dates).
    static func givenChange(_ sim: SimulatorProcess, ci: String) async throws -> String {
        let now = Date()
        let change = try await sim.createChange(["short_description": "given", "state": -1, "cmdb_ci": ci,
                                                 "start_date": glide(now - 3600), "end_date": glide(now + 7200)])
        return change["number"] as! String
    }

    static func notes(_ change: [String: Any]) -> [String] {
        (change["work_notes"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
    }

    /// A GET on the instance's REST API as the connection's user (HTTP Basic), the body as bytes.
    static func get(_ sim: SimulatorProcess, _ path: String) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: "\(sim.base)\(path)")
        request.headers.add(name: "Authorization", value: "Basic " + Data("svc.changegate:sim-password".utf8).base64EncodedString())
        request.headers.add(name: "Accept", value: "*/*")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status.code == 200 else { throw HarnessError("GET \(path) → \(response.status.code): \(String(buffer: body))") }
        return Array(body.readableBytesView)
    }

    static func getJSON(_ sim: SimulatorProcess, _ path: String) async throws -> [[String: Any]] {
        let object = try JSONSerialization.jsonObject(with: Data(try await get(sim, path))) as? [String: Any]
        return object?["result"] as? [[String: Any]] ?? []
    }

    /// One change_request record through the Table API (fields the control API's flat view leaves out).
    static func tableRecord(_ sim: SimulatorProcess, _ sysID: String, fields: String) async throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(try await get(sim, "/api/now/table/change_request/\(sysID)?sysparm_fields=\(fields)"))) as? [String: Any]
        return object?["result"] as? [String: Any] ?? [:]
    }

    /// A reference field's sys_id, whether the instance sent it plain or as {value, link}.
    static func reference(_ value: Any?) -> String? {
        (value as? String) ?? ((value as? [String: Any])?["value"] as? String)
    }

    static func auditDetails(_ d: DaemonProcess, _ id: Int64, _ kind: String) throws -> [[String: Any]] {
        try sqlite3(d.database, "SELECT details FROM audit_log WHERE task_id = \(id) AND kind = '\(kind)' ORDER BY seq")
            .split(separator: "\n").filter { !$0.isEmpty }
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    // MARK: a. blackout blocks, then clears

    @Test func aBlackoutHoldsTheDeploymentUntilItIsRemoved() async throws {
        let sim = try await SimulatorProcess()
        try await Self.addCI(sim, "web-prod-01")
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "echo deployed"), extra: "conflict_check = \"block\"\nconflict_recheck = \"2s\""))
        try await d.startAndWait()
        let number = try await Self.givenChange(sim, ci: "web-prod-01")
        try await Self.addBlackout(sim, "Year-end freeze", from: Date() - 7200, to: Date() + 86400)
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "1", "change_number": number])

        try await eventually("the task log to say held", timeout: .seconds(60)) { d.taskLog(id).contains("held: the conflict check of \(number)") }
        #expect(d.taskLog(id).contains("Year-end freeze"), "the log names the blackout: \(d.taskLog(id))")
        #expect(try d.state(id) == "implement_check")
        try await Task.sleep(for: .seconds(2))
        #expect(try d.state(id) == "implement_check", "still held")
        #expect(!d.taskLog(id).contains("[stdout] deployed"))
        #expect(try Self.auditDetails(d, id, "conflict_check").contains { $0["decision"] as? String == "held" })

        try await Self.removeBlackout(sim, "Year-end freeze")
        // The held deployment checks again every conflict_recheck.
        #expect(try await d.waitForTerminal(id, timeout: .seconds(90)) == "succeeded")
        #expect(d.taskLog(id).contains("[stdout] deployed"))
        #expect(try Self.auditDetails(d, id, "conflict_check").contains { $0["decision"] as? String == "passed" })
    }

    // MARK: b. a blackout beginning during the run stops it

    @Test func aBlackoutBeginningDuringTheRunStopsIt() async throws {
        let sim = try await SimulatorProcess()
        try await Self.addCI(sim, "web-prod-01")
        let d = try DaemonProcess(simulator: sim, projects: "")
        let deploy = try d.script("deploy.sh", "echo $$ > \(d.dir)/deploy.pid; exec sleep 300")
        // warn: the conflict check reports the coming blackout, the deploy starts anyway and the span becomes a deadline.
        try d.configure(DaemonFlowTests.project("web", command: deploy, extra: "conflict_check = \"warn\""))
        try await d.startAndWait()
        let number = try await Self.givenChange(sim, ci: "web-prod-01")
        let begins = Date() + 15
        try await Self.addBlackout(sim, "Night freeze", from: begins, to: begins + 3600)
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "1", "change_number": number])

        // No bound on when the run starts (a busy machine may be slow): the blackout stops it whenever it runs.
        var pid: pid_t = 0
        try await eventually("the deploy to write its pid", timeout: .seconds(60)) {
            pid = pid_t((try? String(contentsOfFile: "\(d.dir)/deploy.pid", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
            return pid > 0
        }
        #expect(try await d.waitForTerminal(id, timeout: .seconds(90)) == "failed")
        #expect(try d.column(id, "outcome") == "blackout_window")
        let reason = try d.column(id, "reason")
        #expect(reason.contains("Night freeze"), "\(reason)")
        try await eventually("the deploy's process to be gone", timeout: .seconds(30)) { processGone(pid) }
    }

    // MARK: c. warn mode

    @Test func warnModeRunsAndTheWorkNoteNamesTheConflict() async throws {
        let sim = try await SimulatorProcess()
        try await Self.addCI(sim, "web-prod-01")
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "echo deployed"), extra: "conflict_check = \"warn\""))
        try await d.startAndWait()
        let number = try await Self.givenChange(sim, ci: "web-prod-01")
        // Later in the change's window: a conflict, but not in force while the deploy runs.
        try await Self.addBlackout(sim, "Payroll freeze", from: Date() + 3600, to: Date() + 5400, cis: ["web-prod-01"])
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "1", "change_number": number])
        #expect(try await d.waitForTerminal(id, timeout: .seconds(60)) == "succeeded")
        #expect(d.taskLog(id).contains("starting anyway (conflict_check = warn)"), "\(d.taskLog(id))")
        let notes = Self.notes(try await sim.change(number))
        #expect(notes.contains { $0.contains("Payroll freeze") }, "the work note names the conflict: \(notes)")
        let audited = try Self.auditDetails(d, id, "conflict_check")
        #expect(audited.contains { $0["decision"] as? String == "passed" && ($0["status"] as? String)?.lowercased() == "conflict" }, "\(audited)")
    }

    // MARK: d. evidence

    @Test func evidenceIsAttachedWithItsHashAndWorkTimes() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "echo hello-evidence")))
        try await d.startAndWait()
        let number = try await sim.createChange(["short_description": "given", "state": -1])["number"] as! String
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "9", "change_number": number, "requested_by": "alice"])
        #expect(try await d.waitForTerminal(id) == "succeeded")
        try await eventually("the evidence to be audited", timeout: .seconds(60)) { try !Self.auditDetails(d, id, "evidence_attached").isEmpty }

        let change = try await sim.change(number)
        let sysID = try #require(change["sys_id"] as? String)
        let times = try await Self.tableRecord(sim, sysID, fields: "work_start,work_end")
        #expect(!(times["work_start"] as? String ?? "").isEmpty && !(times["work_end"] as? String ?? "").isEmpty, "work_start/work_end: \(times)")
        let listed = try await Self.getJSON(sim, "/api/now/attachment?sysparm_query=table_sys_id=\(sysID)")
        let names = Set(listed.compactMap { $0["file_name"] as? String })
        #expect(names == ["changegate-task-\(id).log", "changegate-task-\(id)-evidence.json"], "\(names)")
        func file(_ name: String) async throws -> [UInt8] {
            let a = try #require(listed.first { $0["file_name"] as? String == name })
            return try await Self.get(sim, "/api/now/attachment/\(a["sys_id"] as! String)/file")
        }
        let log = String(decoding: try await file("changegate-task-\(id).log"), as: UTF8.self)
        #expect(log.contains("stdout hello-evidence") || log.contains("hello-evidence"), "\(log)")
        let bytes = try await file("changegate-task-\(id)-evidence.json")
        let evidence = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(evidence["task_id"] as? Int == Int(id))
        #expect(evidence["outcome"] as? String == "succeeded" && evidence["change_number"] as? String == number)
        #expect(evidence["requested_by"] as? String == "alice" && evidence["exit_code"] as? Int == 0)

        // The evidence's hash is the audit trail's, and the trail holds.
        let seq = try #require(evidence["audit_seq"] as? Int)
        #expect(try sqlite3(d.database, "SELECT hash FROM audit_log WHERE seq = \(seq) AND task_id = \(id)") == evidence["audit_hash"] as? String)
        let attached = try #require(try Self.auditDetails(d, id, "evidence_attached").first)
        let path = "\(d.dir)/evidence.json"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let sum = try run("/usr/bin/sha256sum", [path]).stdout.split(separator: " ").first.map(String.init)
        #expect(attached["evidence_sha256"] as? String == sum)
        #expect(attached["work_times_set"] as? Bool == true)
        let verify = try d.cli(["audit", "verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    // MARK: e. upload failure

    @Test func aFailedUploadIsAuditedAndShownButTheDeploymentSucceeds() async throws {
        let sim = try await SimulatorProcess()
        try await sim.faults(["attachment_fault": "fail", "attachment_fault_times": 0])
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "true")))
        try await d.startAndWait()
        let number = try await sim.createChange(["short_description": "given", "state": -1])["number"] as! String
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "1", "change_number": number])
        #expect(try await d.waitForTerminal(id) == "succeeded")
        #expect(try d.column(id, "outcome") == "succeeded")
        try await eventually("evidence_upload_failed to be audited", timeout: .seconds(120), every: .milliseconds(500)) {
            try !Self.auditDetails(d, id, "evidence_upload_failed").isEmpty
        }
        let failed = try #require(try Self.auditDetails(d, id, "evidence_upload_failed").first)
        #expect(failed["change_number"] as? String == number)
        let error = try #require(failed["error"] as? String)
        let status = try d.cli(["status"]).stdout
        #expect(status.contains(String(error.prefix(40))), "status shows the upload's error \(error):\n\(status)")
    }

    // MARK: f. per-environment template and CIs

    @Test func anEnvironmentsTemplateMakesAStandardChangeWithItsCIs() async throws {
        let sim = try await SimulatorProcess()
        try await Self.addCI(sim, "api-prod-01")
        try await Self.addCI(sim, "api-prod-02")
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("api", command: try d.script("deploy.sh", "true"), extra: """
            [projects.api.environments.Production]
            change_template = "changegate demo: standard deploy"
            cmdb_ci = ["api-prod-01", "api-prod-02"]
            """))
        try await d.startAndWait()
        let id = try insert(d.database, ["project": "api", "environment": "Production", "release": "3"])
        _ = try await d.waitForState(id, ["awaiting_approval", "implement_check", "executing", "succeeded"])
        #expect(try d.column(id, "change_link") == "created_standard")
        let number = try d.column(id, "change_number")
        if try d.state(id) == "awaiting_approval" { try await sim.setState(number, -1) }
        #expect(try await d.waitForTerminal(id) == "succeeded")
        let change = try await sim.change(number)
        #expect(change["type"] as? String == "standard")
        let cis = try await HTTP.json(.GET, "\(sim.base)/_sim/cis") as! [String: Any]
        let ids = Dictionary(uniqueKeysWithValues: (cis["cis"] as! [[String: Any]]).map { ($0["name"] as! String, $0["sys_id"] as! String) })
        let sysID = try #require(change["sys_id"] as? String)
        let primary = Self.reference(try await Self.tableRecord(sim, sysID, fields: "cmdb_ci")["cmdb_ci"])
        #expect(primary == ids["api-prod-01"], "cmdb_ci: \(String(describing: primary))")
        let affected = try await Self.getJSON(sim, "/api/now/table/task_ci?sysparm_query=task=\(sysID)&sysparm_fields=ci_item")
        let items = Set(affected.compactMap { Self.reference($0["ci_item"]) })
        #expect(items == Set([ids["api-prod-01"]!, ids["api-prod-02"]!]), "task_ci: \(affected)")
    }

    // MARK: g. allow-list refusal

    @Test func aTemplateOutsideTheAllowListIsRefusedWithoutACreate() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("api", command: try d.script("deploy.sh", "true"),
                                                extra: "allowed_change_templates = [\"changegate demo: standard deploy\"]"))
        try await d.startAndWait()
        let id = try insert(d.database, ["project": "api", "environment": "Production", "release": "1", "change_template": "Something else"])
        #expect(try await d.waitForTerminal(id) == "failed")
        #expect(try d.column(id, "outcome") == "invalid_request")
        #expect(try d.column(id, "reason").contains("changegate demo: standard deploy"), "the reason lists the allowed ones")
        #expect(try await sim.changes().isEmpty, "no change was created")
        let endpoints = (try await sim.requests()["by_endpoint"] as? [String: Any] ?? [:]).keys
        #expect(!endpoints.contains { $0.hasPrefix("POST /api/sn_chg_rest") }, "\(endpoints)")
    }

    // MARK: h. close-out

    @Test func eachTypeIsClosedThroughReviewAndAFailedStandardChangeIsClosedUnsuccessful() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "true"), extra: "close_change = \"closed\""))
        try d.configure(DaemonFlowTests.project("api", command: try d.script("fail.sh", "exit 3"), extra: """
            change_template = "changegate demo: standard deploy"
            close_change = "review"
            close_change_on_failure = "closed"
            """))
        try d.configure(DaemonFlowTests.project("std", command: try d.script("ok.sh", "true"), extra: """
            change_template = "changegate demo: standard deploy"
            close_change = "closed"
            """))
        try await d.startAndWait()
        let normal = try insert(d.database, ["project": "web", "environment": "Production", "release": "1"])
        let emergency = try insert(d.database, ["project": "web", "environment": "Production", "release": "2", "change_type": "emergency"])
        let standard = try insert(d.database, ["project": "std", "environment": "Production", "release": "3"])
        let failed = try insert(d.database, ["project": "api", "environment": "Production", "release": "4"])
        for id in [normal, emergency, standard, failed] {
            _ = try await d.waitForState(id, ["awaiting_approval", "implement_check", "executing", "succeeded", "failed"], timeout: .seconds(60))
        }
        for id in [normal, emergency, standard, failed] {
            let number = try d.column(id, "change_number")
            if try d.state(id) == "awaiting_approval" { try await sim.setState(number, -1) }
        }
        for id in [normal, emergency, standard] { #expect(try await d.waitForTerminal(id, timeout: .seconds(60)) == "succeeded") }
        #expect(try await d.waitForTerminal(failed, timeout: .seconds(60)) == "failed")
        #expect(try d.column(failed, "outcome") == "deploy_failed")

        for (id, type) in [(normal, "normal"), (emergency, "emergency"), (standard, "standard")] {
            let number = try d.column(id, "change_number")
            try await eventually("\(type) change \(number) to be closed", timeout: .seconds(60)) { try await sim.change(number)["state"] as? Int == 3 }
            let change = try await sim.change(number)
            #expect(change["type"] as? String == type)
            #expect(change["close_code"] as? String == "successful")
            let log = d.taskLog(id)
            let review = log.range(of: "to Review"), closed = log.range(of: "to Closed")
            #expect(review != nil && closed != nil && review!.lowerBound < closed!.lowerBound, "via Review: \(log)")
        }
        let failedNumber = try d.column(failed, "change_number")
        // close_change_on_failure, not close_change (review), decides where it goes.
        try await eventually("the failed standard change to be closed", timeout: .seconds(60)) { try await sim.change(failedNumber)["state"] as? Int == 3 }
        let closed = try await sim.change(failedNumber)
        #expect(closed["close_code"] as? String == "unsuccessful", "\(closed)\n\(d.taskLog(failed))")

        // Each move is one of the states nextstates offered just before it: Implement → Review → Closed is two reads
        // and two moves per closed change, and the log shows the order.
        let log = try await sim.requests()["log"] as? [[String: Any]] ?? []
        let paths = log.compactMap { e -> String? in
            guard let m = e["method"] as? String, let p = e["path"] as? String else { return nil }
            return "\(m) \(p)"
        }
        for id in [normal, emergency, standard] {
            let sysID = try #require(try await sim.change(try d.column(id, "change_number"))["sys_id"] as? String)
            let reads = paths.filter { $0.hasPrefix("GET ") && $0.contains(sysID) && $0.hasSuffix("/nextstates") }
            #expect(reads.count >= 2, "nextstates read before each move of \(sysID): \(paths.filter { $0.contains(sysID) })")
        }
    }

    // MARK: i. a CI outside its maintenance window

    @Test func aCIOutsideItsMaintenanceWindowFailsAtTheApprovalTimeout() async throws {
        let sim = try await SimulatorProcess()
        try await Self.addCI(sim, "db-prod-01", maintenance: [["start": "2099-01-01 00:00:00", "end": "2099-01-01 04:00:00"]])
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("db", command: try d.script("deploy.sh", "echo deployed"),
                                                extra: "conflict_check = \"block\"\nconflict_recheck = \"1s\"\napproval_timeout = \"5s\""))
        try await d.startAndWait()
        let number = try await Self.givenChange(sim, ci: "db-prod-01")
        let id = try insert(d.database, ["project": "db", "environment": "Production", "release": "1", "change_number": number])
        #expect(try await d.waitForTerminal(id, timeout: .seconds(90)) == "failed")
        #expect(try d.column(id, "outcome") == "change_conflict")
        let reason = try d.column(id, "reason")
        #expect(reason.contains("db-prod-01") || reason.lowercased().contains("maintenance"), "\(reason)")
        #expect(!d.taskLog(id).contains("[stdout] deployed"))
    }
}
