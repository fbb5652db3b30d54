import Foundation
import Testing
@testable import ServiceNowSimulator

/// CIs, schedules, the conflict check, CI association and next states, over HTTP.
@Suite struct ScheduleTests {
    /// Polls the conflict report until the check is done (the check runs asynchronously, as on the instance).
    static func finishedReport(_ sim: Sim, _ sysID: String) async throws -> JSON {
        for _ in 0..<600 {
            let r = try await sim.get("/api/sn_chg_rest/change/\(sysID)/conflict")
            #expect(r.status == 200, "\(r.text)")
            if r.result["job_status"]?.stringValue != "1" { return r.result }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the conflict check of \(sysID) did not finish")
        return .null
    }

    static func ci(_ sim: Sim, _ body: String) async throws -> String {
        let a = try await sim.control("POST", "/cis", body)
        #expect(a.status == 200, "\(a.text)")
        return a.json["sys_id"]?.stringValue ?? ""
    }

    @Test func cisAndSchedulesAreTables() async throws {
        try await Sim.with { sim in
            let id = try await Self.ci(sim, #"{"name":"web-01","maintenance":[{"start":"2030-01-06 22:00:00","end":"2030-01-07 02:00:00","repeat":"weekly","days_of_week":[7]}]}"#)
            let ci = try await sim.get("/api/now/table/cmdb_ci?sysparm_query=name=web-01")
            #expect(ci.results.count == 1)
            let schedule = try #require(ci.results.first?["maintenance_schedule"]?["value"]?.stringValue)
            let span = try await sim.get("/api/now/table/cmn_schedule_span?sysparm_query=schedule=\(schedule)")
            #expect(span.results.first?["start_date_time"]?.stringValue == "20300106T220000")
            #expect(span.results.first?["repeat_type"]?.stringValue == "weekly")
            #expect(span.results.first?["days_of_week"]?.stringValue == "7")
            let maint = try await sim.get("/api/now/table/cmn_schedule_maintenance")
            #expect(maint.results.map { $0["sys_id"]?.stringValue } == [schedule])
            _ = try await sim.control("POST", "/blackouts", #"{"name":"Freeze","start":"2030-12-20 00:00:00","end":"2031-01-02 00:00:00","cis":["web-01"]}"#)
            let blackouts = try await sim.get("/api/now/table/cmn_schedule_blackout")
            #expect(blackouts.results.count == 1)
            #expect(blackouts.results.first?["condition"]?.stringValue == "sys_idIN\(id)")
            #expect(blackouts.results.first?["applies_to"]?.stringValue == "cmdb_ci")
            #expect(blackouts.results.first?["sys_updated_on"]?.stringValue?.isEmpty == false)
            #expect(try await sim.control("DELETE", "/blackouts/Freeze").status == 200)
            #expect(try await sim.get("/api/now/table/cmn_schedule_blackout").results.isEmpty)
            #expect(try await sim.control("DELETE", "/blackouts/Freeze").status == 404)
            // cmdb_ci is set by name or sys_id and shows the CI's name.
            let change = try await sim.createNormal(#"{"short_description":"x","cmdb_ci":"web-01"}"#)
            #expect(change["cmdb_ci"]?["value"]?.stringValue == id)
            #expect(change["cmdb_ci"]?["display_value"]?.stringValue == "web-01")
        }
    }

    @Test func conflictCheckFindsEachType() async throws {
        try await Sim.with { sim in
            _ = try await Self.ci(sim, #"{"name":"web-01","maintenance":[{"start":"2030-01-01 22:00:00","end":"2030-01-02 02:00:00","repeat":"daily"}]}"#)
            _ = try await Self.ci(sim, #"{"name":"db-01"}"#)
            _ = try await sim.control("POST", "/blackouts", #"{"name":"Freeze","start":"2030-03-01 00:00:00","end":"2030-03-02 00:00:00","cis":["db-01"]}"#)
            // Inside web-01's window, no blackout on it: no conflict; the API's status still reads "Conflict", as documented.
            let ok = try await sim.createNormal(#"{"short_description":"ok","cmdb_ci":"web-01","start_date":"2030-03-01 22:30:00","end_date":"2030-03-01 23:30:00"}"#)
            #expect(try await sim.call("POST", "/api/sn_chg_rest/change/\(ok.sysID)/conflict").status == 200)
            let clean = try await Self.finishedReport(sim, ok.sysID)
            #expect(clean["conflicts"]?.arrayValue?.isEmpty == true)
            #expect(clean["status"]?.stringValue == "Conflict")
            #expect(clean["job_status"]?.stringValue == "2")
            let okRecord = try await sim.get("/api/sn_chg_rest/change/\(ok.sysID)").result
            #expect(okRecord.s("conflict_status") == "No Conflict")
            #expect(okRecord.s("conflict_last_run").isEmpty == false)

            // Outside the window, in the blackout (db-01 as an affected CI), and overlapping `ok` on web-01.
            let bad = try await sim.createNormal(#"{"short_description":"bad","cmdb_ci":"web-01","start_date":"2030-03-01 21:00:00","end_date":"2030-03-01 23:00:00"}"#)
            let dbID = try await sim.get("/api/now/table/cmdb_ci?sysparm_query=name=db-01").results.first?["sys_id"]?.stringValue ?? ""
            let assoc = try await sim.call("POST", "/api/sn_chg_rest/change/\(bad.sysID)/ci", json: #"{"cmdb_ci_sys_ids":"\#(dbID)","association_type":"affected"}"#)
            #expect(assoc.status == 202)
            #expect(assoc.result["state"]?["value"] == .int(1))
            let worker = try #require(assoc.result["worker"]?["sysId"]?.stringValue)
            var state = JSON.null
            for _ in 0..<600 {
                state = try await sim.get("/api/sn_chg_rest/change/worker/\(worker)").result["state"]?["value"] ?? .null
                if state != .int(1) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(state == .int(3))
            #expect(try await sim.get("/api/now/table/task_ci?sysparm_query=task=\(bad.sysID)").results.count == 1)
            #expect(try await sim.call("POST", "/api/sn_chg_rest/change/\(bad.sysID)/conflict").status == 200)
            let report = try await Self.finishedReport(sim, bad.sysID)
            let types = Set((report["conflicts"]?.arrayValue ?? []).compactMap { $0["type"]?["value"]?.stringValue })
            #expect(types == ["blackout", "not_in_maintenance_window", "ci_already_scheduled"])
            let scheduled = report["conflicts"]?.arrayValue?.first { $0["type"]?["value"]?.stringValue == "ci_already_scheduled" }
            #expect(scheduled?["conflicting_change"]?["value"]?.stringValue == ok.sysID)
            let record = try await sim.get("/api/sn_chg_rest/change/\(bad.sysID)").result
            #expect(record.s("conflict_status") == "Conflict")
            #expect(record.v("outside_maintenance_schedule") == .bool(true))
        }
    }

    @Test func conflictCheckNeedsCIAndDatesAndCanBeCancelled() async throws {
        try await Sim.with({ $0.jobDuration = .seconds(600) }) { sim in
            let bare = try await sim.createNormal()
            expectError(try await sim.call("POST", "/api/sn_chg_rest/change/\(bare.sysID)/conflict"), 400, "Conflict checking could not start")
            let notRun = try await sim.get("/api/sn_chg_rest/change/\(bare.sysID)/conflict").result
            #expect(notRun["status"]?.stringValue == "Not Run")
            expectError(try await sim.call("DELETE", "/api/sn_chg_rest/change/\(bare.sysID)/conflict"), 400, "Cancel request failed")
            _ = try await Self.ci(sim, #"{"name":"web-01"}"#)
            let c = try await sim.createNormal(#"{"short_description":"x","cmdb_ci":"web-01","start_date":"2030-03-01 21:00:00","end_date":"2030-03-01 23:00:00"}"#)
            #expect(try await sim.call("POST", "/api/sn_chg_rest/change/\(c.sysID)/conflict").status == 200)
            #expect(try await sim.get("/api/sn_chg_rest/change/\(c.sysID)/conflict").result["job_status"]?.stringValue == "1")
            #expect(try await sim.call("DELETE", "/api/sn_chg_rest/change/\(c.sysID)/conflict").status == 200)
            let after = try await sim.get("/api/sn_chg_rest/change/\(c.sysID)/conflict").result
            #expect(after["status"]?.stringValue == "Not Run")
            #expect(after["job_status"]?.stringValue == "")
        }
    }

    @Test func affectedCIsOnlyWhileNew() async throws {
        try await Sim.with { sim in
            let id = try await Self.ci(sim, #"{"name":"web-01"}"#)
            let created = try await sim.control("POST", "/changes", #"{"short_description":"x","state":-1}"#)
            let sysID = created.json["sys_id"]?.stringValue ?? ""
            let a = try await sim.call("POST", "/api/sn_chg_rest/change/\(sysID)/ci", json: #"{"cmdb_ci_sys_ids":["\#(id)"],"association_type":"affected"}"#)
            let worker = try #require(a.result["worker"]?["sysId"]?.stringValue)
            var result = JSON.null
            for _ in 0..<600 {
                result = try await sim.get("/api/sn_chg_rest/change/worker/\(worker)").result
                if result["state"]?["value"] != .int(1) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(result["state"]?["display_value"]?.stringValue == "Error")
            #expect(result["messages"]?["errorMessages"]?.arrayValue?.first?.stringValue?.contains("New state") == true)
            expectError(try await sim.call("POST", "/api/sn_chg_rest/change/\(sysID)/ci", json: #"{"cmdb_ci_sys_ids":"\#(id)"}"#), 400, "Invalid association_type")
        }
    }

    @Test func attachmentsUploadListDownloadDelete() async throws {
        try await Sim.with { sim in
            let c = try await sim.createNormal()
            let up = try await sim.call("POST", "/api/now/attachment/file?table_name=change_request&table_sys_id=\(c.sysID)&file_name=task.log",
                                        json: "line one\nline two\n", contentType: "text/plain")
            #expect(up.status == 201, "\(up.text)")
            let record = up.result
            #expect(record["size_bytes"]?.stringValue == "18")
            #expect(record["content_type"]?.stringValue == "text/plain")
            #expect(record["table_sys_id"]?.stringValue == c.sysID)
            // SHA-256 of the content, hex.
            #expect(record["hash"]?.stringValue == "e9024f1a07d29d52ad3aa5e1a18e94db1f3a9fd32b89e39d47c472cd99071e13")
            let id = record.sysID
            #expect(up.header("Location")?.hasSuffix("/api/now/attachment/\(id)") == true)
            let list = try await sim.get("/api/now/attachment?sysparm_query=table_sys_id=\(c.sysID)")
            #expect(list.results.map(\.sysID) == [id])
            let file = try await sim.get("/api/now/attachment/\(id)/file")
            #expect(file.text == "line one\nline two\n")
            #expect(file.header("Content-Type") == "text/plain")
            #expect(try await sim.call("DELETE", "/api/now/attachment/\(id)").status == 204)
            #expect(try await sim.get("/api/now/attachment?sysparm_query=table_sys_id=\(c.sysID)").results.isEmpty)
            // Refusals: no Content-Type, an unknown record, a reader, the size limit.
            expectError(try await sim.call("POST", "/api/now/attachment/file?table_name=change_request&table_sys_id=\(c.sysID)&file_name=x", json: "x", contentType: ""), 400, "Missing parameter")
            expectError(try await sim.call("POST", "/api/now/attachment/file?table_name=change_request&table_sys_id=\(String(repeating: "0", count: 32))&file_name=x", json: "x", contentType: "text/plain"), 404, "No Record found")
            expectError(try await sim.call("POST", "/api/now/attachment/file?table_name=change_request&table_sys_id=\(c.sysID)&file_name=x", auth: Sim.basic("reader"), json: "x", contentType: "text/plain"), 403, "Operation Failed")
            #expect(try await sim.control("PUT", "/properties", #"{"com.glide.attachment.max_size": 0.0001}"#).status == 200)
            expectError(try await sim.call("POST", "/api/now/attachment/file?table_name=change_request&table_sys_id=\(c.sysID)&file_name=big", json: String(repeating: "x", count: 200), contentType: "text/plain"), 400, "Failed to create the attachment")
            // The upload fault: stored, but the answer is a 500.
            #expect(try await sim.control("PUT", "/faults", #"{"attachment_fault":"fail_after_store","attachment_fault_times":1}"#).status == 200)
            let lost = try await sim.call("POST", "/api/now/attachment/file?table_name=change_request&table_sys_id=\(c.sysID)&file_name=small", json: "x", contentType: "text/plain")
            #expect(lost.status == 500)
            #expect(try await sim.get("/api/now/attachment?sysparm_query=table_sys_id=\(c.sysID)").results.count == 1)
        }
    }

    @Test func nextStatesListTransitions() async throws {
        try await Sim.with { sim in
            let c = try await sim.createNormal()
            let next = try await sim.get("/api/sn_chg_rest/change/\(c.sysID)/nextstates").result
            let transitions = (next["state_transitions"]?.arrayValue ?? []).compactMap { $0.arrayValue?.first }
            #expect(transitions.compactMap { $0["to_state"]?.stringValue } == ["-4", "4"])
            #expect(transitions.allSatisfy { $0["from_state"]?.stringValue == "-5" && $0["transition_available"] == .bool(true) })
            // Authorize → Scheduled waits for the approval: listed, not available.
            let authorize = try await sim.control("POST", "/changes", #"{"short_description":"y","state":-3,"approval":"requested"}"#)
            let a = try await sim.get("/api/sn_chg_rest/change/\(authorize.json["sys_id"]?.stringValue ?? "")/nextstates").result
            let toScheduled = (a["state_transitions"]?.arrayValue ?? []).compactMap { $0.arrayValue?.first }.first { $0["to_state"]?.stringValue == "-2" }
            #expect(toScheduled?["transition_available"] == .bool(false))
            #expect(toScheduled?["conditions"]?.arrayValue?.first?["passed"] == .bool(false))
        }
    }
}
