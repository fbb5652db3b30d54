import Foundation
import Testing
@testable import ServiceNowSimulator

@Suite struct PersistenceTests {
    @Test func stateSurvivesARestart() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("snowsim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("state.json").path
        let portFile = dir.appendingPathComponent("port").path
        let configure: (inout SimulatorConfiguration) -> Void = {
            $0.stateFile = path
            $0.portFile = portFile
            $0.persistInterval = .milliseconds(50)
        }
        let sysID = try await Sim.with(configure) { sim in
            #expect(try String(contentsOfFile: portFile, encoding: .utf8) == "\(URL(string: sim.base)!.port!)\n")
            let c = try await sim.createNormal(#"{"short_description":"persist me","work_notes":"note 1"}"#)
            _ = try await sim.patch(c.sysID, #"{"state":-4}"#)
            _ = try await sim.patch(c.sysID, #"{"state":-3}"#)
            _ = try await sim.control("POST", "/changes/CHG0030001/approve", #"{"approver":"Alice Approver","comments":"yes"}"#)
            _ = try await sim.control("POST", "/templates", #"{"name":"kept template"}"#)
            return c.sysID
        }
        #expect(FileManager.default.fileExists(atPath: path))
        try await Sim.with(configure) { sim in
            let rec = try await sim.control("GET", "/changes/CHG0030001").json
            #expect(rec["sys_id"] == .string(sysID))
            #expect(rec["state_name"] == .string("Authorize"))
            #expect(rec["approval"] == .string("requested"))
            #expect(rec["work_notes"]?.arrayValue?.first?["text"] == .string("note 1"))
            #expect(rec["approvers"]?.arrayValue?.first?["comments"] == .string("yes"))
            // Roll-up still works on restored rows, and numbering continues.
            let bob = try await sim.control("POST", "/changes/CHG0030001/approve", #"{"approver":"Bob CAB"}"#)
            #expect(bob.json["state_name"] == .string("Scheduled"))
            #expect(try await sim.createNormal().s("number") == "CHG0030002")
            let t = try await sim.get("/api/sn_chg_rest/change/standard/template?sysparm_query=name=kept template")
            #expect(t.results.count == 1)
        }
    }

    @Test func scheduleTablesAndAttachmentsSurviveARestart() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("snowsim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("state.json").path
        let configure: (inout SimulatorConfiguration) -> Void = { $0.stateFile = path; $0.persistInterval = .milliseconds(50) }
        let sysID = try await Sim.with(configure) { sim in
            _ = try await sim.control("POST", "/cis", #"{"name":"web-01","maintenance":[{"start":"2030-01-01 22:00:00","end":"2030-01-02 02:00:00","repeat":"daily"}]}"#)
            _ = try await sim.control("POST", "/blackouts", #"{"name":"Freeze","start":"2030-12-20 00:00:00","end":"2031-01-02 00:00:00"}"#)
            let c = try await sim.createNormal(#"{"short_description":"x","cmdb_ci":"web-01"}"#)
            let up = try await sim.call("POST", "/api/now/attachment/file?table_name=change_request&table_sys_id=\(c.sysID)&file_name=a.txt",
                                        json: "evidence", contentType: "text/plain")
            #expect(up.status == 201)
            return c.sysID
        }
        try await Sim.with(configure) { sim in
            #expect(try await sim.get("/api/now/table/cmdb_ci").results.count == 1)
            #expect(try await sim.get("/api/now/table/cmn_schedule").results.count == 2)
            #expect(try await sim.get("/api/now/table/cmn_schedule_span").results.count == 2)
            let list = try await sim.get("/api/now/attachment?sysparm_query=table_sys_id=\(sysID)")
            let id = try #require(list.results.first?.sysID)
            #expect(try await sim.get("/api/now/attachment/\(id)/file").text == "evidence")
        }
    }

    @Test func aBrokenStateFileIsReportedAtStart() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("snowsim-bad-\(UUID().uuidString).json").path
        try Data("{nope".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var config = SimulatorConfiguration()
        config.stateFile = path
        #expect(throws: SimulatorError.self) { try SimulatorApplication(configuration: config) }
    }
}
