import Foundation
import Testing
@testable import ServiceNowSimulator

@Suite struct ControlAPITests {
    @Test func createByHandAndRead() async throws {
        try await Sim.with { sim in
            #expect(try await sim.control("GET", "/health").json == .obj(["ok": .bool(true)]))
            let a = try await sim.control("POST", "/changes", #"""
                {"short_description":"Octopus: Deploy \"web\" version 1.2 to \"Prod\"","state":-1,
                 "start_date":"2024-05-01 10:00:00","end_date":"2024-05-01 12:00:00","correlation_id":"cg-9","description":"d"}
                """#)
            #expect(a.status == 200)
            let r = a.json
            #expect(r.objectValue?.keys == ["sys_id", "number", "type", "state", "state_name", "approval", "short_description",
                                            "description", "correlation_id", "start_date", "end_date", "close_code", "close_notes",
                                            "work_notes", "approvers", "sys_created_on", "sys_updated_on"])
            #expect(r["number"] == .string("CHG0030001"))
            #expect(r["state"] == .int(-1) && r["state_name"] == .string("Implement"))
            #expect(r["approval"] == .string("approved"))
            #expect(r["type"] == .string("normal"))
            // The API sees the same change.
            let api = try await sim.get("/api/sn_chg_rest/change?sysparm_query=correlation_id=cg-9")
            #expect(api.results.first?.v("state") == .int(-1))
            #expect(api.results.first?.s("start_date") == "2024-05-01 10:00:00")
            #expect(try await sim.control("GET", "/changes/CHG0030001").json["correlation_id"] == .string("cg-9"))
            #expect(try await sim.control("GET", "/changes/\(r["sys_id"]!.stringValue!)").json["number"] == .string("CHG0030001"))
            #expect(try await sim.control("GET", "/changes?correlation_id=cg-9").json["changes"]?.arrayValue?.count == 1)
            #expect(try await sim.control("GET", "/changes?correlation_id=other").json["changes"]?.arrayValue?.isEmpty == true)
            #expect(try await sim.control("GET", "/changes/CHG0999999").status == 404)
            #expect(try await sim.control("POST", "/changes", #"{"type":"normal"}"#).status == 400)
            #expect(try await sim.control("POST", "/changes", #"{"short_description":"x","state":7}"#).status == 400)
            #expect(try await sim.control("POST", "/changes", #"{"short_description":"x","start_date":"tomorrow"}"#).status == 400)
            #expect(try await sim.control("GET", "/nope").status == 404)
        }
    }

    @Test func forceStateApproveAndReject() async throws {
        try await Sim.with { sim in
            _ = try await sim.control("POST", "/changes", #"{"short_description":"a"}"#)
            // Approving before Authorize creates the approver rows first.
            let alice = try await sim.control("POST", "/changes/CHG0030001/approve", #"{"approver":"Alice Approver","comments":"fine"}"#)
            #expect(alice.json["approval"] == .string("requested"))
            #expect(alice.json["approvers"] == .array([
                .obj(["name": .string("Alice Approver"), "state": .string("approved"), "comments": .string("fine")]),
                .obj(["name": .string("Bob CAB"), "state": .string("requested"), "comments": .string("")]),
            ]))
            let bob = try await sim.control("POST", "/changes/CHG0030001/approve", #"{"approver":"bob.cab"}"#)
            #expect(bob.json["approval"] == .string("approved"))
            #expect(bob.json["state_name"] == .string("Scheduled"))
            #expect(try await sim.control("POST", "/changes/CHG0030001/approve", #"{"approver":"Bob CAB"}"#).status == 409)

            _ = try await sim.control("POST", "/changes", #"{"short_description":"b","state":-3}"#)
            #expect(try await sim.control("POST", "/changes/CHG0030002/reject", #"{"approver":"Bob CAB"}"#).status == 400)
            let rejected = try await sim.control("POST", "/changes/CHG0030002/reject", #"{"approver":"Bob CAB","comments":"no"}"#)
            #expect(rejected.json["approval"] == .string("rejected"))
            #expect(rejected.json["state_name"] == .string("Canceled"))
            #expect(try await sim.control("POST", "/changes/CHG0030002/approve", #"{"approver":"Nobody"}"#).status == 400)

            _ = try await sim.control("POST", "/changes", #"{"short_description":"c","state":-3}"#)
            let forced = try await sim.control("POST", "/changes/CHG0030003/state",
                                               #"{"state":-1,"start_date":"2030-01-01 00:00:00","end_date":"2030-01-02 00:00:00"}"#)
            #expect(forced.json["state"] == .int(-1))
            #expect(forced.json["approval"] == .string("approved"))
            #expect(forced.json["start_date"] == .string("2030-01-01 00:00:00"))
            #expect(forced.json["approvers"]?.arrayValue?.allSatisfy { $0["state"] == .string("not_required") } == true)
            let back = try await sim.control("POST", "/changes/CHG0030003/state", #"{"state":-5}"#)
            #expect(back.json["state_name"] == .string("New"))
            #expect(try await sim.control("POST", "/changes/CHG0030003/state", #"{}"#).status == 400)
        }
    }

    @Test func customApproversBecomeUsers() async throws {
        try await Sim.with({ $0.approvers = ["Dana Delegate"] }) { sim in
            _ = try await sim.control("POST", "/changes", #"{"short_description":"a","state":-3}"#)
            let rec = try await sim.control("GET", "/changes/CHG0030001")
            #expect(rec.json["approvers"]?.arrayValue?.map { $0["name"]?.stringValue ?? "" } == ["Dana Delegate"])
            let a = try await sim.call("PATCH", "/api/sn_chg_rest/change/\(rec.json["sys_id"]!.stringValue!)/approvals",
                                       auth: Sim.basic("dana.delegate"), json: #"{"state":"approved"}"#)
            #expect(a.result.s("approval") == "approved")
        }
    }

    @Test func resetClearsChangesCountersFaultsButKeepsSeeds() async throws {
        try await Sim.with { sim in
            _ = try await sim.createNormal()
            _ = try await sim.control("POST", "/templates", #"{"name":"extra"}"#)
            _ = try await sim.control("PUT", "/faults", #"{"latency_ms":5}"#)
            #expect(try await sim.control("POST", "/reset").status == 200)
            #expect(try await sim.control("GET", "/changes").json["changes"] == .array([]))
            #expect(try await sim.control("GET", "/requests").json["total"] == .int(0))
            #expect(try await sim.control("GET", "/faults").json["latency_ms"] == .int(0))
            let names = try await sim.control("GET", "/templates").json["templates"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(names.contains("changegate demo: standard deploy") && !names.contains("extra"))
            #expect(try await sim.passwordToken().status == 200)
            #expect(try await sim.createNormal().s("number") == "CHG0030001")
        }
    }
}
