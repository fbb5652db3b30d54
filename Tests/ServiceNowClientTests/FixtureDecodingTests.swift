import Foundation
import ServiceNowModel
import Testing
@testable import ServiceNowClient

/// Captured answers of real instances (Fixtures/, copied from shared/servicenow/reference/responses).
enum Fixture {
    static func data(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"))
        return try Data(contentsOf: url)
    }

    static func json(_ name: String) throws -> JSONValue {
        try JSONValue.parse(try data(name))
    }

    static func utc(_ text: String) -> Date { GlideDateTime.parse(text)! }
}

@Suite struct FixtureDecodingTests {
    @Test(arguments: [
        ("getNormalChangeRequestById", "51cff803db440010a704fe1b68961946", "CHG0030011", ChangeType.normal, ApprovalState.notRequested, "2019-09-26 23:27:30"),
        ("createNormalChangeRequest", "51cff803db440010a704fe1b68961946", "CHG0030009", .normal, .notRequested, "2019-09-26 23:18:51"),
        ("createEmergencyChangeRequest", "3fb18d43db440010a704fe1b6896192e", "CHG0030008", .emergency, .notRequested, "2019-09-26 23:18:49"),
        ("getStandardChangeRequestById", "c45e54b0db400010a704fe1b68961985", "CHG0030004", .standard, .approved, "2019-09-19 21:06:29"),
        ("changeStandardTemplateById", "b0a6cd07db440010a704fe1b68961902", "CHG0030022", .standard, .approved, "2019-09-26 23:48:51"),
    ])
    func decodesCapturedChange(name: String, sysID: String, number: String, type: ChangeType, approval: ApprovalState, updated: String) throws {
        let records = try RecordDecoding.records(in: try Fixture.json(name))
        #expect(records.count == 1)
        let change = try RecordDecoding.change(records[0])
        #expect(change.sysID == sysID)
        #expect(change.number == number)
        #expect(change.state == .new)
        #expect(change.type == type)
        #expect(change.approval == approval)
        #expect(change.plannedStart == nil)
        #expect(change.plannedEnd == nil)
        // `value` of a date is UTC; `display_value` (instance time zone) must not be used.
        #expect(change.updatedOn == Fixture.utc(updated))
    }

    @Test func readsTitleAndIgnoredFields() throws {
        let standard = try RecordDecoding.records(in: try Fixture.json("changeStandardTemplateById"))[0]
        #expect(try RecordDecoding.change(standard).shortDescription == "Add network switch to cabinet")
        #expect(RecordDecoding.ignoredFields(standard) == [])
        let meta: JSONValue = .object(["__meta": .object(["ignoredFields": .array([.string("bogus_field")])])])
        #expect(RecordDecoding.ignoredFields(meta.objectValue!) == ["bogus_field"])
    }

    @Test func decodesTemplateList() throws {
        let records = try RecordDecoding.records(in: try Fixture.json("getStandardChangeTemplate"))
        #expect(records.count == 6)
        let templates = try records.map { r throws(DecodingProblem) in try RecordDecoding.template(r) }
        #expect(templates[0] == StandardChangeTemplate(sysID: "508e02ec47410200e90d87e8dee49058", name: "Add network switch to datacenter cabinet"))
        #expect(templates.contains { $0.name == "Reboot Windows Server" && $0.sysID == "563504cc47410200e90d87e8dee490e2" })
        #expect(Set(templates.map(\.sysID)).count == 6)
    }

    @Test func decodesSingleTemplate() throws {
        let record = try RecordDecoding.records(in: try Fixture.json("getStandardChangeTemplateById"))[0]
        #expect(try RecordDecoding.template(record) == StandardChangeTemplate(sysID: "508e02ec47410200e90d87e8dee49058", name: "Add network switch to datacenter cabinet"))
    }

    @Test func decodesObservedTokenAnswers() throws {
        let shapes = try Fixture.json("observed-shapes")
        for key in ["oauth_password_grant_success", "oauth_password_grant_success_observed"] {
            let body = try JSONSerializationBody(shapes[key]!["body"]!)
            let token = try ServiceNowClient.decodeToken(body)
            #expect(token.refreshToken != nil)
            #expect(token.expiresAt > token.renewAt)
        }
        let cc = try ServiceNowClient.decodeToken(try JSONSerializationBody(shapes["oauth_client_credentials_success_observed"]!["body"]!))
        #expect(cc.value.reveal() == "f2K7vs...")
        #expect(cc.refreshToken == nil)
        #expect(throws: DecodingProblem.self) { try ServiceNowClient.decodeToken(Data("<html>".utf8)) }
    }

    @Test func readsObservedErrorEnvelopes() throws {
        let shapes = try Fixture.json("observed-shapes")
        func message(_ key: String) throws -> (String, String?) {
            let body = try JSONSerializationBody(shapes[key]!["body"]!)
            return ServiceNowClient.errorMessage(RawResponse(status: 400, headers: [:], body: body))
        }
        #expect(try message("table_api_403_acl_observed") == ("Operation Failed", "ACL Exception Update Failed due to security constraints"))
        #expect(try message("table_api_404_record_observed").0 == "No Record found")
        #expect(try message("unknown_api_namespace_observed") == ("Requested URI does not represent any resource", nil))
        #expect(try message("rate_limited").1 == "Rate limit of 100 requests per hour for Table API exceeded")
        #expect(try message("oauth_error_observed") == ("access_denied", nil))
        #expect(try message("table_api_401") == ("User Not Authenticated", "Required to provide Auth information"))
    }

    @Test func decodesTableAPIStringShapes() throws {
        // sysparm_display_value=false: every value a string, references {link, value}.
        let raw = """
        {"result":[{"sys_id":"0123456789abcdef0123456789abcdef","number":"CHG0000042","state":"-1","approval":"approved",
        "type":"normal","start_date":"2025-03-01 10:00:00","end_date":"2025-03-01 12:00:00","active":"true",
        "short_description":"Octopus: Deploy \\"web\\" version 1.2 to \\"Prod\\"","correlation_id":"cg-1",
        "assignment_group":{"link":"https://x.service-now.com/api/now/table/sys_user_group/abc","value":"abc"},
        "sys_updated_on":"2025-03-01 09:00:00"}]}
        """
        let change = try RecordDecoding.change(try RecordDecoding.records(in: try JSONValue.parse(Data(raw.utf8)))[0])
        #expect(change.state == .implement)
        #expect(change.approval == .approved)
        #expect(change.plannedStart == Fixture.utc("2025-03-01 10:00:00"))
        #expect(change.plannedEnd == Fixture.utc("2025-03-01 12:00:00"))
        #expect(change.shortDescription == "Octopus: Deploy \"web\" version 1.2 to \"Prod\"")
        #expect(change.correlationID == "cg-1")
    }

    @Test func decodesDisplayValueAllAndNumbers() throws {
        let raw = """
        {"result":{"sys_id":{"display_value":"aa","value":"aa"},"number":{"display_value":"CHG1","value":"CHG1"},
        "state":{"display_value":"Review","value":"0"},"approval":{"display_value":"Requested","value":"requested"},
        "type":{"display_value":"Emergency","value":"emergency"},"start_date":{"display_value":"01/03/2025 11:00","value":"2025-03-01 10:00:00","display_value_internal":"2025-03-01 11:00:00"}}}
        """
        let change = try RecordDecoding.change(try RecordDecoding.records(in: try JSONValue.parse(Data(raw.utf8)))[0])
        #expect(change.state == .review)
        #expect(change.approval == .requested)
        #expect(change.type == .emergency)
        #expect(change.plannedStart == Fixture.utc("2025-03-01 10:00:00"))
        // A state given only as a label still decodes; an unknown one is a clear problem.
        let labelOnly: JSONValue = .object(["sys_id": .string("b"), "state": .object(["display_value": .string("Implement"), "value": .string("")]), "type": .string("normal")])
        #expect(try RecordDecoding.change(labelOnly.objectValue!).state == .implement)
        let unknown: JSONValue = .object(["sys_id": .string("b"), "number": .string("CHG9"), "state": .number(17), "type": .string("normal")])
        #expect(throws: DecodingProblem.self) { try RecordDecoding.change(unknown.objectValue!) }
    }

    @Test func decodesApproverRows() throws {
        let raw = """
        {"result":[{"sys_id":{"display_value":"r1","value":"r1"},
        "approver":{"display_value":"Bernard Laboy","value":"6816f79cc0a8016401c5a33be04be441","link":"https://x/api/now/table/sys_user/6816"},
        "state":{"display_value":"Approved","value":"approved"},"comments":{"display_value":"2025-03-01 - Bernard (Comments)\\nok","value":""},
        "sys_updated_on":{"display_value":"2025-03-01 11:00:00","value":"2025-03-01 10:00:00"}},
        {"sys_id":"r2","approver":{"link":"https://x","value":"u2"},"state":"not_required","comments":"","sys_updated_on":""}]}
        """
        let rows = try RecordDecoding.records(in: try JSONValue.parse(Data(raw.utf8)))
        let first = try RecordDecoding.approver(rows[0])
        #expect(first == ApproverRecord(sysID: "r1", approverName: "Bernard Laboy", approverSysID: "6816f79cc0a8016401c5a33be04be441",
                                        state: .approved, comments: "2025-03-01 - Bernard (Comments)\nok", updatedOn: Fixture.utc("2025-03-01 10:00:00")))
        let second = try RecordDecoding.approver(rows[1])
        #expect(second.state == .notRequired)
        #expect(second.approverSysID == "u2")
        #expect(second.updatedOn == nil)
    }

    @Test func decodesNextStatesShapes() throws {
        let documented = #"{"result":{"available_states":["-1","0","4"],"state_label":{"-1":"Implement","0":"Review","4":"Canceled"}}}"#
        #expect(try RecordDecoding.nextStates(try JSONValue.parse(Data(documented.utf8))) == [.implement, .review, .canceled])
        let list = #"{"result":[{"value":-2,"display_value":"Scheduled"},4]}"#
        #expect(try RecordDecoding.nextStates(try JSONValue.parse(Data(list.utf8))) == [.scheduled, .canceled])
    }

    @Test func rejectsAnswersWithoutResult() throws {
        #expect(throws: DecodingProblem.self) { try RecordDecoding.records(in: try JSONValue.parse(Data(#"{"error":{}}"#.utf8))) }
        #expect(throws: DecodingProblem.self) { try RecordDecoding.records(in: try JSONValue.parse(Data(#"{"result":"x"}"#.utf8))) }
    }
}

/// Re-serialises a part of a fixture as a body.
func JSONSerializationBody(_ value: JSONValue) throws -> Data {
    func plain(_ v: JSONValue) -> Any {
        switch v {
        case .null: NSNull()
        case .bool(let b): b
        case .number(let d): d
        case .string(let s): s
        case .array(let a): a.map(plain)
        case .object(let o): o.mapValues(plain)
        }
    }
    return try JSONSerialization.data(withJSONObject: plain(value))
}
