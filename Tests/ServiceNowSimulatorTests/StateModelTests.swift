import Testing
import ServiceNowModel
@testable import ServiceNowSimulator

@Suite struct StateModelTests {
    /// Pure rules, every type: the next step on the path is allowed (with approval), skips and moves back are not.
    @Test(arguments: ChangeType.allCases)
    func pathRules(type: ChangeType) {
        let path = type.statePath
        for (i, from) in path.enumerated() {
            for to in ChangeState.allCases where to != from {
                let why = StateModel.refusal(number: "CHG0030001", type: type, from: from, to: to, approval: .approved,
                                             allowImplementToClosed: false)
                let expected = to == .canceled ? from.isOpen : (i + 1 < path.count && path[i + 1] == to)
                #expect((why == nil) == expected, "\(type) \(from) → \(to): \(why ?? "allowed")")
            }
        }
        #expect(StateModel.refusal(number: "C", type: type, from: .implement, to: .closed, approval: .approved,
                                   allowImplementToClosed: true) == nil)
        #expect(StateModel.refusal(number: "C", type: type, from: .scheduled, to: .implement, approval: .requested,
                                   allowImplementToClosed: false) != nil)
    }

    @Test func normalChangeThroughTheAPIWithApprovalRollUp() async throws {
        try await Sim.with { sim in
            let c = try await sim.createNormal()
            let refused = try await sim.patch(c.sysID, #"{"state":-1}"#)
            expectError(refused, 403, "Operation Failed")
            #expect(refused.json["error"]?["detail"]?.stringValue?.contains("New (-5) to Implement (-1)") == true)
            #expect(try await sim.patch(c.sysID, #"{"state":-4}"#).result.v("state") == .int(-4))
            let authorize = try await sim.patch(c.sysID, #"{"state":"-3"}"#).result
            #expect(authorize.v("state") == .int(-3))
            #expect(authorize.s("approval") == "requested")
            // The roll-up, not the caller, moves it to Scheduled.
            expectError(try await sim.patch(c.sysID, #"{"state":-2}"#), 403, "Operation Failed")
            let rows = try await sim.get("/api/now/table/sysapproval_approver?sysparm_query=sysapproval=\(c.sysID)&sysparm_display_value=true")
            #expect(rows.results.map { $0["approver"]?["display_value"]?.stringValue ?? "" } == ["Alice Approver", "Bob CAB"])
            #expect(rows.results.allSatisfy { $0["state"] == .string("Requested") })

            let alice = try await sim.call("PATCH", "/api/sn_chg_rest/change/\(c.sysID)/approvals", auth: Sim.basic("alice.approver"),
                                           json: #"{"state":"approved"}"#)
            #expect(alice.result.s("approval") == "requested")
            // Not an approver, not a manager: refused.
            let svc = try await sim.call("PATCH", "/api/sn_chg_rest/change/\(c.sysID)/approvals", json: #"{"state":"approved"}"#)
            expectError(svc, 403, "Operation Failed")
            let bob = try await sim.call("PATCH", "/api/sn_chg_rest/change/\(c.sysID)/approvals", auth: Sim.basic("bob.cab"),
                                         json: #"{"state":"approved","comments":"ok"}"#)
            #expect(bob.result.s("approval") == "approved")
            #expect(bob.result.v("state") == .int(-2))

            #expect(try await sim.patch(c.sysID, #"{"state":-1}"#).result.v("state") == .int(-1))
            let implement = try await sim.get("/api/sn_chg_rest/change/\(c.sysID)").result
            #expect(!implement.s("work_start").isEmpty)
            expectError(try await sim.patch(c.sysID, #"{"state":3}"#), 403, "Operation Failed")
            #expect(try await sim.patch(c.sysID, #"{"state":0}"#).result.v("state") == .int(0))
            let closed = try await sim.patch(c.sysID, #"{"state":3,"close_code":"successful","close_notes":"done"}"#).result
            #expect(closed.v("state") == .int(3))
            #expect(closed.v("active") == .bool(false))
            #expect(closed["close_code"]?["display_value"] == .string("Successful"))
            #expect(closed.s("close_notes") == "done")
            expectError(try await sim.patch(c.sysID, #"{"state":4}"#), 403, "Operation Failed")
        }
    }

    @Test func rejectionCancelsAndNeedsComments() async throws {
        try await Sim.with { sim in
            let c = try await sim.createNormal(type: "emergency")
            #expect(try await sim.patch(c.sysID, #"{"state":-3}"#).result.s("approval") == "requested")
            let noComment = try await sim.call("PATCH", "/api/sn_chg_rest/change/\(c.sysID)/approvals",
                                               auth: Sim.basic("bob.cab"), json: #"{"state":"rejected"}"#)
            #expect(noComment.status == 400)
            let rejected = try await sim.call("PATCH", "/api/sn_chg_rest/change/\(c.sysID)/approvals",
                                              auth: Sim.basic("bob.cab"), json: #"{"state":"rejected","comments":"too risky"}"#)
            #expect(rejected.result.s("approval") == "rejected")
            #expect(rejected.result.v("state") == .int(4))
            let rows = try await sim.get("/api/now/table/sysapproval_approver?sysparm_query=sysapproval=\(c.sysID)^ORDERBYapprover.name&sysparm_display_value=all")
            #expect(rows.results.map { $0["state"]?["value"]?.stringValue ?? "" } == ["not_required", "rejected"])
            #expect(rows.results.last?["comments"]?["display_value"]?.stringValue?.contains("Bob CAB (Comments)\ntoo risky") == true)
            #expect(rows.results.last?["comments"]?["value"] == .string(""))
        }
    }

    @Test func managerApprovesForAllAndStandardNeedsNoApproval() async throws {
        try await Sim.with { sim in
            let c = try await sim.createNormal()
            let m = try await sim.call("PATCH", "/api/sn_chg_rest/change/\(c.sysID)/approvals", auth: Sim.basic("carol.manager"),
                                       json: #"{"state":"approved"}"#)
            #expect(m.result.s("approval") == "approved")
            #expect(m.result.v("state") == .int(-2))

            let std = try await sim.call("POST", "/api/sn_chg_rest/change/standard/c4a9e0d1f5b34a6c8e2d7b9a1c3e5f70", json: "").result
            #expect(try await sim.patch(std.sysID, #"{"state":-2}"#).result.v("state") == .int(-2))
            #expect(try await sim.patch(std.sysID, #"{"state":-1}"#).result.v("state") == .int(-1))
            // Canceled is reachable from Implement.
            #expect(try await sim.patch(std.sysID, #"{"state":4}"#).result.v("state") == .int(4))
        }
    }

    @Test func implementToClosedOnlyWhenAllowed() async throws {
        try await Sim.with({ $0.allowImplementToClosed = true }) { sim in
            let c = try await sim.control("POST", "/changes", #"{"short_description":"x","state":-1}"#)
            let sysID = try #require(c.json["sys_id"]?.stringValue)
            #expect(try await sim.patch(sysID, #"{"state":3}"#).result.v("state") == .int(3))
        }
    }

    @Test func workNotesAreAJournal() async throws {
        try await Sim.with { sim in
            let c = try await sim.createNormal(#"{"work_notes":"created by changegate"}"#)
            _ = try await sim.patch(c.sysID, #"{"work_notes":"deployment started"}"#)
            let record = try await sim.get("/api/sn_chg_rest/change/\(c.sysID)").result
            #expect(record.v("work_notes") == .string(""))
            let display = record["work_notes"]?["display_value"]?.stringValue ?? ""
            #expect(display.contains("changegate Service Account (Work notes)\ndeployment started\n\n"))
            #expect(display.range(of: "deployment started")!.lowerBound < display.range(of: "created by changegate")!.lowerBound)
            let raw = try await sim.get("/api/now/table/change_request/\(c.sysID)?sysparm_fields=work_notes")
            #expect(raw.result["work_notes"] == .string(""))
            let plain = try await sim.control("GET", "/changes/\(c.s("number"))")
            #expect(plain.json["work_notes"]?.arrayValue?.map { $0["text"]?.stringValue ?? "" } == ["created by changegate", "deployment started"])
            #expect(plain.json["work_notes"]?.arrayValue?.first?["author"] == .string("changegate Service Account"))
        }
    }
}
