import Testing
@testable import ServiceNowSimulator

@Suite struct RoleTests {
    @Test func readerReadsButCannotWrite() async throws {
        try await Sim.with { sim in
            let change = try await sim.createNormal()
            let reader = Sim.basic("reader")
            #expect(try await sim.get("/api/sn_chg_rest/change/\(change.sysID)", auth: reader).status == 200)
            #expect(try await sim.get("/api/now/table/sysapproval_approver", auth: reader).status == 200)
            let create = try await sim.call("POST", "/api/sn_chg_rest/change/normal", auth: reader, json: "{}")
            expectError(create, 403, "Operation Failed")
            #expect(create.json["error"]?["detail"]?.stringValue?.hasPrefix("ACL Exception") == true)
            expectError(try await sim.patch(change.sysID, #"{"state":-4}"#, auth: reader), 403, "Operation Failed")
            let approve = try await sim.call("PATCH", "/api/sn_chg_rest/change/\(change.sysID)/approvals", auth: reader,
                                             json: #"{"state":"approved"}"#)
            expectError(approve, 403, "Operation Failed")
        }
    }

    @Test func userWithoutRolesCannotEvenRead() async throws {
        try await Sim.with { sim in
            let change = try await sim.createNormal()
            let norole = Sim.basic("norole")
            expectError(try await sim.get("/api/sn_chg_rest/change", auth: norole), 403, "Operation Failed")
            expectError(try await sim.get("/api/sn_chg_rest/change/\(change.sysID)", auth: norole), 403, "Operation Failed")
            expectError(try await sim.get("/api/now/table/change_request", auth: norole), 403, "Operation Failed")
            let t = try await sim.get("/api/sn_chg_rest/change/standard/template?sysparm_query=active=true", auth: norole)
            expectError(t, 403, "Operation Failed")
        }
    }

    @Test func onlyManagersDelete() async throws {
        try await Sim.with { sim in
            let change = try await sim.createNormal()
            expectError(try await sim.call("DELETE", "/api/sn_chg_rest/change/\(change.sysID)"), 403, "Operation Failed")
            let deleted = try await sim.call("DELETE", "/api/now/table/change_request/\(change.sysID)", auth: Sim.basic("admin"))
            #expect(deleted.status == 204)
            expectError(try await sim.get("/api/sn_chg_rest/change/\(change.sysID)"), 404, "No Record found")
        }
    }
}
