import Testing
@testable import ServiceNowSimulator

@Suite struct TableAPITests {
    @Test func displayValueFalseTrueAndAll() async throws {
        try await Sim.with { sim in
            let c = try await sim.createNormal(#"{"short_description":"t","start_date":"2024-07-01 12:00:00"}"#)
            let fields = "sysparm_fields=state,active,impact,opened_by,start_date,number,assignment_group"
            let raw = try await sim.get("/api/now/table/change_request/\(c.sysID)?\(fields)").result
            #expect(raw["state"] == .string("-5"))
            #expect(raw["active"] == .string("true"))
            #expect(raw["impact"] == .string("3"))
            #expect(raw["start_date"] == .string("2024-07-01 12:00:00"))
            #expect(raw["assignment_group"] == .string(""))
            #expect(raw["opened_by"] == .obj(["link": .string("\(sim.base)/api/now/table/sys_user/5a1c0e7e1b4f4c2a9d3e8f7a6b5c4d01"),
                                              "value": .string("5a1c0e7e1b4f4c2a9d3e8f7a6b5c4d01")]))
            #expect(raw.objectValue?.keys == ["state", "active", "impact", "opened_by", "start_date", "number", "assignment_group"])

            let noLink = try await sim.get("/api/now/table/change_request/\(c.sysID)?\(fields)&sysparm_exclude_reference_link=true").result
            #expect(noLink["opened_by"] == .string("5a1c0e7e1b4f4c2a9d3e8f7a6b5c4d01"))

            let display = try await sim.get("/api/now/table/change_request/\(c.sysID)?\(fields)&sysparm_display_value=true").result
            #expect(display["state"] == .string("New"))
            #expect(display["impact"] == .string("3 - Low"))
            #expect(display["start_date"] == .string("2024-07-01 05:00:00"))
            #expect(display["opened_by"]?["display_value"] == .string("changegate Service Account"))
            let displayNoLink = try await sim.get("/api/now/table/change_request/\(c.sysID)?\(fields)&sysparm_display_value=true&sysparm_exclude_reference_link=true").result
            #expect(displayNoLink["opened_by"] == .string("changegate Service Account"))

            let all = try await sim.get("/api/now/table/change_request/\(c.sysID)?\(fields)&sysparm_display_value=all").result
            #expect(all["state"] == .obj(["display_value": .string("New"), "value": .string("-5")]))
            #expect(all["opened_by"]?["value"] == .string("5a1c0e7e1b4f4c2a9d3e8f7a6b5c4d01"))
            #expect(all["opened_by"]?["display_value"] == .string("changegate Service Account"))
            #expect(all["opened_by"]?["link"] != nil)
        }
    }

    @Test func unknownFieldsAreIgnoredAndDotWalksWork() async throws {
        try await Sim.with { sim in
            let c = try await sim.createNormal()
            _ = try await sim.patch(c.sysID, #"{"state":-4}"#)
            _ = try await sim.patch(c.sysID, #"{"state":-3}"#)
            let rows = try await sim.get("/api/now/table/sysapproval_approver?sysparm_query=sysapproval=\(c.sysID)&sysparm_fields=approver.name,state,nonsense,sysapproval,sys_updated_on")
            #expect(rows.results.count == 2)
            let first = try #require(rows.results.first?.objectValue)
            #expect(first.keys == ["approver.name", "state", "sysapproval", "sys_updated_on"])
            #expect(first["approver.name"] == .string("Alice Approver"))
            #expect(first["state"] == .string("requested"))
            #expect(first["sysapproval"]?["value"] == .string(c.sysID))
            let byName = try await sim.get("/api/now/table/sysapproval_approver?sysparm_query=approver.name=Bob CAB^sysapproval.number=\(c.s("number"))&sysparm_display_value=true")
            #expect(byName.results.count == 1)
            #expect(byName.results.first?["sysapproval"]?["display_value"] == .string(c.s("number")))
            let users = try await sim.get("/api/now/table/sys_user?sysparm_query=user_name=alice.approver&sysparm_fields=name,roles")
            #expect(users.results.first?["name"] == .string("Alice Approver"))
            #expect(users.results.first?["password"] == nil)
        }
    }

    @Test func pagingHeaders() async throws {
        try await Sim.with { sim in
            for i in 0..<5 { _ = try await sim.control("POST", "/changes", #"{"short_description":"p\#(i)"}"#) }
            let first = try await sim.get("/api/now/table/change_request?sysparm_limit=2&sysparm_fields=number")
            #expect(first.header("X-Total-Count") == "5")
            let link = try #require(first.header("Link"))
            let base = "\(sim.base)/api/now/table/change_request?sysparm_fields=number&sysparm_limit=2"
            #expect(link == "<\(base)&sysparm_offset=0>;rel=\"first\",<\(base)&sysparm_offset=-2>;rel=\"prev\","
                + "<\(base)&sysparm_offset=2>;rel=\"next\",<\(base)&sysparm_offset=4>;rel=\"last\"")
            let one = try await sim.get("/api/now/table/change_request?sysparm_limit=1")
            #expect(one.header("Link")?.contains("sysparm_offset=-1>;rel=\"prev\"") == true)
            let last = try await sim.get("/api/now/table/change_request?sysparm_limit=2&sysparm_offset=4&sysparm_fields=number")
            #expect(last.results.map { $0["number"]?.stringValue ?? "" } == ["CHG0030005"])
            #expect(last.header("Link")?.contains("rel=\"next\"") == false)
            let beyond = try await sim.get("/api/now/v2/table/change_request?sysparm_offset=10")
            #expect(beyond.status == 200 && beyond.results.isEmpty)
            let noCount = try await sim.get("/api/now/table/change_request?sysparm_no_count=true")
            #expect(noCount.header("X-Total-Count") == nil)
        }
    }

    @Test func v1AnswersNotFoundWhenEmptyV2AnswersEmptyList() async throws {
        try await Sim.with { sim in
            expectError(try await sim.get("/api/now/v1/table/change_request?sysparm_query=number=CHG0"), 404, "No Record found")
            let v2 = try await sim.get("/api/now/v2/table/change_request?sysparm_query=number=CHG0")
            #expect(v2.status == 200)
            #expect(v2.result == .array([]))
            let plain = try await sim.get("/api/now/table/change_request?sysparm_query=number=CHG0")
            #expect(plain.status == 200 && plain.results.isEmpty)
            expectError(try await sim.get("/api/now/table/change_request/0123456789abcdef0123456789abcdef"), 404, "No Record found")
            expectError(try await sim.get("/api/now/table/incident"), 400, "Invalid table incident")
        }
    }

    @Test func insertUpdateAndApproverRowWrites() async throws {
        try await Sim.with { sim in
            let created = try await sim.call("POST", "/api/now/table/change_request", json: #"{"short_description":"tbl","type":"emergency"}"#)
            #expect(created.status == 201)
            let sysID = try #require(created.result["sys_id"]?.stringValue)
            #expect(created.header("Location") == "\(sim.base)/api/now/table/change_request/\(sysID)")
            #expect(created.result["type"] == .string("emergency"))
            let moved = try await sim.call("PATCH", "/api/now/table/change_request/\(sysID)", json: #"{"state":"-3"}"#)
            #expect(moved.result["approval"] == .string("requested"))
            let rows = try await sim.get("/api/now/table/sysapproval_approver?sysparm_query=sysapproval=\(sysID)&sysparm_fields=sys_id")
            for row in rows.results {
                let id = try #require(row["sys_id"]?.stringValue)
                let a = try await sim.call("PATCH", "/api/now/table/sysapproval_approver/\(id)", auth: Sim.basic("carol.manager"),
                                           json: #"{"state":"approved"}"#)
                #expect(a.status == 200)
            }
            let after = try await sim.get("/api/now/table/change_request/\(sysID)?sysparm_fields=state,approval")
            #expect(after.result == .obj(["state": .string("-2"), "approval": .string("approved")]))
            let refused = try await sim.call("PATCH", "/api/now/table/change_request/\(sysID)", json: #"{"state":"3"}"#)
            expectError(refused, 403, "Operation Failed")
        }
    }
}
