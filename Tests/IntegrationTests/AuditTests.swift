import Foundation
import Testing
import TestSupport

/// The audit trail as the built daemon writes it, checked and tampered with through the sqlite3 CLI.
@Suite(.serialized, .ownThreads) struct AuditTests {
    struct Scenario {
        var sim: SimulatorProcess
        var d: DaemonProcess
        var ids: [String: Int64]
    }

    /// Deployments covering each kind of decision: an approved normal change with a window that is moved to Review,
    /// an uncontrolled run, a rejected row, a given change whose command fails, and a cancellation while waiting.
    static func scenario(cancelled: Bool = true) async throws -> Scenario {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "echo ok"), extra: "close_change = \"review\""))
        try d.configure(DaemonFlowTests.project("bad", command: try d.script("fail.sh", "exit 3")))
        try await d.startAndWait()
        var ids: [String: Int64] = [:]
        ids["approved"] = try insert(d.database, ["project": "web", "environment": "Production", "release": "1.0,\"beta\"", "requested_by": "alice"])
        ids["uncontrolled"] = try insert(d.database, ["project": "web", "environment": "Test", "release": "2.0", "requested_by": "=cmd()"])
        ids["invalid"] = try insert(d.database, ["project": "nope", "environment": "Test", "release": "1", "requested_by": "mallory"])
        let given = try await sim.createChange(["short_description": "hand-made change", "state": -1])["number"] as! String
        ids["deployFailed"] = try insert(d.database, ["project": "bad", "environment": "Production", "release": "3", "change_number": given, "requested_by": "bob"])
        if cancelled {
            ids["cancelled"] = try insert(d.database, ["project": "web", "environment": "Production", "release": "4", "requested_by": "carol"])
        }

        _ = try await d.waitForState(ids["approved"]!, ["awaiting_approval"])
        let number = try d.column(ids["approved"]!, "change_number")
        try await sim.setState(number, -3)
        try await sim.approve(number, as: "Alice Approver")
        try await sim.setState(number, -1, extra: ["start_date": "2020-01-01 08:00:00", "end_date": "2099-12-31 18:00:00"])
        if cancelled {
            _ = try await d.waitForState(ids["cancelled"]!, ["awaiting_approval"])
            #expect(try d.cli(["cancel", "\(ids["cancelled"]!)"]).status == 0)
        }
        for id in ids.values { _ = try await d.waitForTerminal(id) }
        return Scenario(sim: sim, d: d, ids: ids)
    }

    static func records(_ d: DaemonProcess, _ id: Int64) throws -> [(kind: String, details: [String: Any])] {
        try sqlite3(d.database, "SELECT kind || char(9) || details FROM audit_log WHERE task_id = \(id) ORDER BY seq")
            .split(separator: "\n").map { line in
                let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
                return (parts[0], try JSONSerialization.jsonObject(with: Data(parts[1].utf8)) as! [String: Any])
            }
    }

    @Test func eachDecisionIsRecordedAndTheChainHolds() async throws {
        let s = try await Self.scenario()
        let d = s.d
        let approved = try Self.records(d, s.ids["approved"]!)
        #expect(approved.map(\.kind) == ["enqueued", "change_linked", "approved", "window", "execution_started",
                                         "execution_ended", "evidence_attached", "change_moved", "succeeded"])
        #expect(approved[0].details["requested_by"] as? String == "alice")
        #expect(approved[0].details["accepted"] as? Bool == true)
        #expect(approved[1].details["link"] as? String == "created_normal")
        #expect(approved[1].details["change_number"] as? String == (try d.column(s.ids["approved"]!, "change_number")))
        let approvers = approved[2].details["approvers"] as? [[String: Any]] ?? []
        #expect(approvers.contains { $0["name"] as? String == "Alice Approver" && $0["state"] as? String == "approved" && $0["at"] is String })
        #expect(approved[2].details["implement_seen_at"] is String)
        #expect(approved[3].details["planned_start"] as? String == "2020-01-01T08:00:00.000Z")
        #expect(approved[3].details["planned_end"] as? String == "2099-12-31T18:00:00.000Z")
        #expect(approved[5].details["exit_code"] as? Int == 0)
        #expect((approved[6].details["attachments"] as? [Any])?.count == 2, "the log and the evidence record: \(approved[6].details)")
        #expect(approved[7].details["state"] as? String == "Review" && approved[7].details["close_code"] as? String == "successful")
        #expect(approved[8].details["outcome"] as? String == "succeeded")

        let uncontrolled = try Self.records(d, s.ids["uncontrolled"]!)
        #expect(uncontrolled.map(\.kind) == ["enqueued", "execution_started", "execution_ended", "succeeded"])
        #expect(uncontrolled[0].details["change_controlled"] as? Bool == false)

        let invalid = try Self.records(d, s.ids["invalid"]!)
        #expect(invalid.map(\.kind) == ["enqueued", "failed"])
        #expect(invalid[0].details["accepted"] as? Bool == false)
        #expect(invalid[0].details["requested_by"] as? String == "mallory")
        #expect((invalid[1].details["reason"] as? String)?.contains("unknown project") == true)

        let failed = try Self.records(d, s.ids["deployFailed"]!)
        #expect(failed.map(\.kind) == ["enqueued", "change_linked", "approved", "window", "execution_started", "execution_ended",
                                       "evidence_attached", "failed"])
        #expect(failed[1].details["link"] as? String == "given_number")
        #expect(failed[5].details["exit_code"] as? Int == 3)
        #expect(failed[7].details["outcome"] as? String == "deploy_failed")

        let cancelled = try Self.records(d, s.ids["cancelled"]!)
        #expect(cancelled.map(\.kind) == ["enqueued", "change_linked", "evidence_attached", "cancelled"], "evidence even of a cancelled wait")

        let verify = try d.cli(["audit", "verify"])
        #expect(verify.status == 0, "\(verify.stderr)")
        let count = try sqlite3(d.database, "SELECT count(*) FROM audit_log")
        #expect(verify.stdout.contains("audit chain OK: \(count) records"))
        #expect(verify.stdout.contains(try sqlite3(d.database, "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")))

        d.stop()
        try Self.tamperingIsCaught(d, at: Int64(try sqlite3(d.database, "SELECT seq FROM audit_log WHERE task_id = \(s.ids["approved"]!) AND kind = 'approved'"))!)
    }

    /// On copies of the database: ordinary SQL is refused; an attacker who drops the triggers is caught by the chain.
    static func tamperingIsCaught(_ d: DaemonProcess, at k: Int64) throws {
        func copy(_ name: String) throws -> String {
            let path = "\(d.dir)/\(name).db"
            try sqlite3(d.database, ".backup '\(path)'")
            return path
        }
        func verify(_ db: String) throws -> CommandResult { try run(Binaries.changegate, ["audit", "verify", "--database", db]) }

        let plain = try copy("plain")
        for sql in ["UPDATE audit_log SET details = '{}' WHERE seq = \(k)", "DELETE FROM audit_log WHERE seq = \(k)",
                    "INSERT INTO audit_log (seq, task_id, at, kind, details, prev_hash, hash) VALUES ((SELECT max(seq) + 1 FROM audit_log), 1, 'x', 'forged', '{}', 'x', 'x')"] {
            #expect(throws: HarnessError.self, "refused: \(sql)") { try sqlite3(plain, sql) }
        }
        #expect(try verify(plain).status == 0)

        let edited = try copy("edited")
        try sqlite3(edited, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET details = replace(details, 'Alice Approver', 'Mallory') WHERE seq = \(k)")
        var r = try verify(edited)
        #expect(r.status == 1)
        #expect(r.stderr.contains("audit chain broken at record \(k): its content does not match its hash"), "\(r.stderr)")

        // Rehashing the edited record moves the break to the next one: it still links to the old hash.
        let rehashed = try copy("rehashed")
        let row = try sqlite3(rehashed, "SELECT task_id || char(9) || at || char(9) || kind || char(9) || replace(details, 'Alice Approver', 'Mallory') || char(9) || prev_hash FROM audit_log WHERE seq = \(k)")
            .split(separator: "\t").map(String.init)
        let content = #"{"at":"\#(row[1])","details":\#(row[3]),"kind":"\#(row[2])","seq":\#(k),"task_id":\#(row[0])}"#
        let hash = shellSHA256(row[4] + "\n" + content)
        try sqlite3(rehashed, "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET details = replace(details, 'Alice Approver', 'Mallory'), hash = '\(hash)' WHERE seq = \(k)")
        r = try verify(rehashed)
        #expect(r.status == 1)
        #expect(r.stderr.contains("audit chain broken at record \(k + 1): its prev_hash"), "\(r.stderr)")

        let deleted = try copy("deleted")
        try sqlite3(deleted, "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = \(k)")
        r = try verify(deleted)
        #expect(r.status == 1)
        #expect(r.stderr.contains("audit chain broken at record \(k + 1): it follows record \(k - 1): record \(k) is missing"), "\(r.stderr)")

        let reordered = try copy("reordered")
        try sqlite3(reordered, """
            DROP TRIGGER audit_log_no_update;
            UPDATE audit_log SET seq = -1 WHERE seq = \(k);
            UPDATE audit_log SET seq = \(k) WHERE seq = \(k + 1);
            UPDATE audit_log SET seq = \(k + 1) WHERE seq = -1;
            """)
        r = try verify(reordered)
        #expect(r.status == 1)
        #expect(r.stderr.contains("audit chain broken at record \(k):"), "\(r.stderr)")
    }

    @Test func exportHasOneRowPerDeploymentWithItsEvidence() async throws {
        let s = try await Self.scenario(cancelled: false)
        let d = s.d
        let csv = try d.cli(["audit", "export", "--format", "csv", "--config", d.configPath])
        #expect(csv.status == 0, "\(csv.stderr)")
        let records = RFC4180.parse(csv.stdout)
        #expect(records.first == ["task_id", "project", "environment", "release", "requested_by", "state", "change_number", "change_type",
                                  "linked_by", "change_url", "approvers", "approved_at", "window_start", "window_end", "started_at",
                                  "finished_at", "outcome", "reason", "close_code", "audit_seq", "audit_hash"])
        #expect(csv.stdout.hasSuffix("\r\n") && !csv.stdout.replacingOccurrences(of: "\r\n", with: "").contains("\r"))
        let header = records[0]
        let rows = records.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
        #expect(rows.count == 4 && records.allSatisfy { $0.count == header.count })

        let a = try #require(rows.first { $0["task_id"] == "\(s.ids["approved"]!)" })
        #expect(a["release"] == "1.0,\"beta\"")
        #expect(a["requested_by"] == "alice")
        #expect(a["change_number"] == (try d.column(s.ids["approved"]!, "change_number")))
        #expect(a["change_type"] == "normal" && a["linked_by"] == "created_normal")
        #expect(a["change_url"] == "\(s.sim.base)/change_request.do?sys_id=\(try d.column(s.ids["approved"]!, "change_sys_id"))")
        #expect(a["approvers"]?.contains("Alice Approver: approved 20") == true)
        #expect(a["approved_at"]?.hasPrefix("20") == true)
        #expect(a["window_start"] == "2020-01-01T08:00:00.000Z" && a["window_end"] == "2099-12-31T18:00:00.000Z")
        #expect(a["outcome"] == "succeeded" && a["close_code"] == "successful" && a["state"] == "succeeded")
        #expect(a["started_at"]?.isEmpty == false && a["finished_at"]?.isEmpty == false)
        let last = try sqlite3(d.database, "SELECT seq || ' ' || hash FROM audit_log WHERE task_id = \(s.ids["approved"]!) ORDER BY seq DESC LIMIT 1")
        #expect("\(a["audit_seq"]!) \(a["audit_hash"]!)" == last)

        let u = try #require(rows.first { $0["task_id"] == "\(s.ids["uncontrolled"]!)" })
        #expect(u["requested_by"] == "'=cmd()", "a formula is defused in CSV")
        #expect(u["change_number"] == "" && u["change_url"] == "" && u["outcome"] == "not_change_controlled")
        let f = try #require(rows.first { $0["task_id"] == "\(s.ids["deployFailed"]!)" })
        #expect(f["linked_by"] == "given_number" && f["outcome"] == "deploy_failed" && f["close_code"] == "")
        #expect(f["reason"] == "The deploy command exited with status 3")

        // JSON lines: one object each, values unchanged.
        let json = try d.cli(["audit", "export", "--format", "json"])
        let lines = json.stdout.split(separator: "\n")
        #expect(lines.count == 4)
        let objects = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let uj = try #require(objects.first { $0["task_id"] as? Int == Int(s.ids["uncontrolled"]!) })
        #expect(uj["requested_by"] as? String == "=cmd()")
        #expect(uj["change_url"] is NSNull, "no config given, no link")
        let aj = try #require(objects.first { $0["task_id"] as? Int == Int(s.ids["approved"]!) })
        #expect((aj["approvers"] as? [[String: Any]])?.contains { $0["name"] as? String == "Alice Approver" } == true)

        // Filters and --out.
        let out = "\(d.dir)/export.csv"
        let filtered = try d.cli(["audit", "export", "--format", "csv", "--project", "web", "--environment", "Production", "--out", out])
        #expect(filtered.status == 0, "\(filtered.stderr)")
        let file = RFC4180.parse(try String(contentsOfFile: out, encoding: .utf8))
        #expect(file.count == 2 && file[1][0] == "\(s.ids["approved"]!)")
        let future = try d.cli(["audit", "export", "--format", "json", "--since", "2999-01-01"])
        #expect(future.status == 0 && future.stdout.isEmpty)
        let today = ISO8601DateFormatter().string(from: Date()).prefix(10)
        let day = try d.cli(["audit", "export", "--format", "json", "--since", String(today), "--until", String(today)])
        #expect(day.stdout.split(separator: "\n").count == 4, "a bare --until date includes the whole day")
        #expect(try d.cli(["audit", "export", "--format", "json", "--until", "yesterday"]).status == 64)
    }
}
