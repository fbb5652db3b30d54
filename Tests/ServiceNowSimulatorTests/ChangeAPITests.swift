import Foundation
import Testing
@testable import ServiceNowSimulator

@Suite struct ChangeAPITests {
    static func fixture(_ name: String) throws -> JSON {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ServiceNowClientTests/Fixtures/\(name)")
        return try JSON.parse(Array(try Data(contentsOf: url)))
    }

    @Test func recordHasEveryFieldOfTheCapturedOneWithTheSameShapes() async throws {
        let captured = try #require(try Self.fixture("getNormalChangeRequestById.json")["result"]?.objectValue)
        try await Sim.with { sim in
            let created = try await sim.createNormal()
            let record = try #require(try await sim.get("/api/sn_chg_rest/change/\(created.sysID)").result.objectValue)
            let missing = captured.keys.filter { record[$0] == nil }
            #expect(missing.isEmpty, "missing fields: \(missing)")
            for key in captured.keys {
                guard let mine = record[key]?.objectValue, let theirs = captured[key]?.objectValue else { continue }
                #expect(mine.keys.sorted() == theirs.keys.sorted(), "\(key): \(mine.keys) vs \(theirs.keys)")
                // Same JSON type of value (number, boolean or string), except where a value is set here.
                switch (mine["value"], theirs["value"]) {
                case (.int?, .int?), (.bool?, .bool?), (.string?, .string?): break
                default: Issue.record("\(key): \(String(describing: mine["value"])) vs \(String(describing: theirs["value"]))")
                }
            }
            for key in ["chg_model", "std_change_producer_version", "assignment_group", "work_notes", "phase"] {
                #expect(record[key] != nil, "\(key)")
            }
        }
    }

    @Test func createNormalAndEmergency() async throws {
        try await Sim.with { sim in
            let normal = try await sim.createNormal(#"{"short_description":"deploy","correlation_id":"cg-1","bogus":"x","number":"CHG1"}"#)
            #expect(normal.s("number") == "CHG0030001")
            #expect(normal.sysID.count == 32 && isSysID(normal.sysID))
            #expect(normal.v("state") == .int(-5))
            #expect(normal["state"]?["display_value"] == .string("New"))
            #expect(normal.s("type") == "normal")
            #expect(normal.s("approval") == "not requested")
            #expect(normal.v("active") == .bool(true))
            #expect(normal.s("correlation_id") == "cg-1")
            #expect(normal.s("opened_by") == "5a1c0e7e1b4f4c2a9d3e8f7a6b5c4d01")
            #expect(normal["opened_by"]?["display_value"] == .string("changegate Service Account"))
            #expect(normal["__meta"]?["ignoredFields"] == .array([.string("bogus"), .string("number")]))
            let emergency = try await sim.createNormal(type: "emergency")
            #expect(emergency.s("number") == "CHG0030002")
            #expect(emergency.s("type") == "emergency")
            #expect(emergency["chg_model"]?["display_value"] == .string("Emergency"))
            // Versioned path, same API.
            let v1 = try await sim.get("/api/sn_chg_rest/v1/change/\(emergency.sysID)")
            #expect(v1.result.s("number") == "CHG0030002")
        }
    }

    @Test func datesCarryUTCValueAndZonedDisplay() async throws {
        try await Sim.with { sim in
            let c = try await sim.createNormal(#"{"start_date":"2024-07-01 12:00:00","end_date":"not a date"}"#)
            #expect(c["start_date"] == .obj(["display_value": .string("2024-07-01 05:00:00"), "value": .string("2024-07-01 12:00:00"),
                                             "display_value_internal": .string("2024-07-01 05:00:00")]))
            #expect(c.s("end_date") == "")
            #expect(c["__meta"]?["ignoredFields"] == .array([.string("end_date")]))
        }
    }

    @Test func standardChangeFromTemplateIsPreApproved() async throws {
        try await Sim.with { sim in
            let name = "changegate demo: standard deploy"
            let q = "/api/sn_chg_rest/change/standard/template?sysparm_query=active=true^name=" + name
            let found = try await sim.get(q)
            #expect(found.status == 200)
            #expect(found.results.count == 1)
            let template = try #require(found.results.first)
            // Shaped like the captured template records.
            let captured = try #require(try Self.fixture("getStandardChangeTemplate.json")["result"]?.arrayValue?.first?.objectValue)
            #expect(template.objectValue?.keys.sorted() == captured.keys.sorted())
            #expect(template.s("name") == name)
            #expect(template["sys_class_name"]?["value"] == .string("std_change_record_producer"))

            let created = try await sim.call("POST", "/api/sn_chg_rest/change/standard/\(template.sysID)",
                                             json: #"{"correlation_id":"cg-std"}"#)
            #expect(created.status == 200)
            let c = created.result
            #expect(c.s("type") == "standard")
            #expect(c.s("approval") == "approved")
            #expect(c.v("state") == .int(-5))
            #expect(c.s("short_description") == name)
            #expect(c.s("correlation_id") == "cg-std")
            #expect(c["std_change_producer_version"]?["display_value"] == .string("\(name) - 1"))
            #expect(c["assignment_group"]?["display_value"] == .string("Change Management"))

            // Captured template names are there too; an unknown name finds nothing; a bad id is 404.
            let toner = try await sim.get("/api/sn_chg_rest/change/standard/template?sysparm_query=active=true^name=Replace printer toner")
            #expect(toner.results.first?.sysID == "df7359bc53231300e321ddeeff7b12f9")
            #expect(try await sim.get("/api/sn_chg_rest/change/standard/template?sysparm_query=name=Nope").results.isEmpty)
            let bad = try await sim.call("POST", "/api/sn_chg_rest/change/standard/0123456789abcdef0123456789abcdef", json: "{}")
            expectError(bad, 404, "No Record found")
        }
    }

    @Test func templatesAddedByTheControlAPIAreUsable() async throws {
        try await Sim.with { sim in
            let added = try await sim.control("POST", "/templates",
                                              #"{"name":"Rotate certs","fields":{"description":"rotate","implementation_plan":"1. rotate"}}"#)
            #expect(added.status == 200)
            let id = try #require(added.json["sys_id"]?.stringValue)
            let c = try await sim.call("POST", "/api/sn_chg_rest/change/standard/\(id)", json: #"{"short_description":"mine"}"#).result
            #expect(c.s("short_description") == "mine")
            #expect(c.s("description") == "rotate")
            #expect(c.s("implementation_plan") == "1. rotate")
        }
    }

    @Test func nextStatesFollowTheModel() async throws {
        try await Sim.with { sim in
            let c = try await sim.createNormal()
            let next = try await sim.get("/api/sn_chg_rest/change/\(c.sysID)/nextstates")
            #expect(next.result["available_states"] == .array(["-5", "-4", "4"].map(JSON.string)))
            #expect(next.result["state_label"]?["-4"] == .string("Assess"))
        }
    }

    @Test func errorEnvelopes() async throws {
        try await Sim.with { sim in
            expectError(try await sim.get("/api/sn_chg_rest/change/0123456789abcdef0123456789abcdef"), 404, "No Record found")
            expectError(try await sim.call("POST", "/api/sn_chg_rest/change/normal", json: "{not json"), 400, "Exception while reading request")
            expectError(try await sim.call("POST", "/api/sn_chg_rest/change/normal", json: "[1]"), 400, "Exception while reading request")
            expectError(try await sim.get("/api/sn_chg_rest/change/a/b/c/d"), 400, "Requested URI does not represent any resource")
            expectError(try await sim.get("/api/x_custom/thing"), 400, "Requested URI does not represent any resource")
            let c = try await sim.createNormal()
            let bad = try await sim.call("PATCH", "/api/sn_chg_rest/change/\(c.sysID)/approvals", json: #"{"state":"maybe"}"#)
            #expect(bad.status == 400)
        }
    }

    @Test func listHasCountLinksFiltersAndFields() async throws {
        try await Sim.with { sim in
            for i in 0..<5 { _ = try await sim.createNormal(#"{"short_description":"c\#(i)","correlation_id":"g\#(i % 2)"}"#) }
            let page = try await sim.get("/api/sn_chg_rest/change?sysparm_query=correlation_id=g0&sysparm_limit=2&sysparm_offset=0&sysparm_fields=number,state")
            #expect(page.header("X-Total-Count") == "3")
            #expect(page.results.count == 2)
            #expect(page.results.first?.objectValue?.keys == ["number", "state"])
            #expect(page.header("Link")?.contains("sysparm_offset=2>;rel=\"next\"") == true)
            // Name=value parameters filter as well.
            let byParam = try await sim.get("/api/sn_chg_rest/change?correlation_id=g1")
            #expect(byParam.results.map { $0.s("short_description") } == ["c1", "c3"])
            let byType = try await sim.get("/api/sn_chg_rest/change/emergency")
            #expect(byType.results.isEmpty)
        }
    }
}
