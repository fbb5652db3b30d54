import Foundation
import ServiceNowModel
import Testing
@testable import ServiceNowClient

/// The schedule surfaces' answers as ServiceNow's Change Management and Attachment API documentation shows them
/// (no captures from real instances exist for these yet).
@Suite struct DocumentedShapeTests {
    static func parse(_ text: String) throws -> JSONValue { try JSONValue.parse(Data(text.utf8)) }

    @Test func conflictReportAsDocumented() throws {
        // "Successful response - no conflicts": status reads Conflict, the list is empty.
        let none = try RecordDecoding.conflictReport(try Self.parse(
            #"{"result":{"status":"Conflict","last_run":"2018-08-30 12:58:05","record_count":"1","job_status":"2","conflicts":[]}}"#))
        #expect(none == ConflictReport(status: .noConflict, inProgress: false, lastRun: GlideDateTime.parse("2018-08-30 12:58:05"), conflicts: []))
        let some = try RecordDecoding.conflictReport(try Self.parse(#"""
            {"result":{"status":"Conflict","last_run":"2018-08-30 12:58:05","record_count":"1","job_status":"2","conflicts":[
              {"change":{"display_value":"CHG0030001","value":"afbffb24b758230096c3e4f6ee11a972"},
               "type":{"display_value":"Not In Maintenance Window","value":"not_in_maintenance_window"}}]}}
            """#))
        #expect(some.status == .conflict)
        #expect(some.conflicts.map(\.kind) == [.notInMaintenanceWindow])
        #expect(some.conflicts.first?.description == "Not In Maintenance Window")
        let running = try RecordDecoding.conflictReport(try Self.parse(#"{"result":{"status":"Not Run","last_run":"","record_count":"0","job_status":"1","conflicts":[]}}"#))
        #expect(running.inProgress)
        #expect(running.status == .notRun)
        let odd = try RecordDecoding.conflictReport(try Self.parse(#"{"result":{"status":"Conflict","job_status":"2","conflicts":[{"type":"parent_ci_already_scheduled"}]}}"#))
        #expect(odd.conflicts.first?.kind == .other)
        #expect(odd.conflicts.first?.type == "parent_ci_already_scheduled")
    }

    @Test func workerAsDocumented() throws {
        let w = try RecordDecoding.worker(try Self.parse(#"""
            {"result":{"worker":{"sysId":"f490f4c6dbac330084f07ffdbf961952","link":"x"},"request":"{}",
             "state":{"value":1,"display_value":"Waiting"},"type":"affected",
             "messages":{"errorMessages":[],"warningMessages":["Invalid CMDB_CI sys_id provided."],"infoMessages":[]}}}
            """#))
        #expect(w.sysID == "f490f4c6dbac330084f07ffdbf961952")
        #expect(w.state == 1)
        #expect(!w.finished)
        #expect(w.warnings == ["Invalid CMDB_CI sys_id provided."])
    }

    @Test func attachmentAsDocumented() throws {
        let r = try RecordDecoding.records(in: try Self.parse(#"""
            {"result":{"table_sys_id":"d71f7935c0a8016700802b64c67c11c6","size_bytes":"36597",
             "download_link":"https://instance.servicenow.com/api/now/attachment/6ea10fe64f411200adf9f8e18110c739/file",
             "sys_id":"6ea10fe64f411200adf9f8e18110c739","file_name":"Issue_screenshot","content_type":"image/jpeg","size_compressed":"25130"}}
            """#))
        #expect(try RecordDecoding.attachment(r[0]) == AttachmentRecord(sysID: "6ea10fe64f411200adf9f8e18110c739", fileName: "Issue_screenshot",
                                                                        contentType: "image/jpeg", sizeBytes: 36597, hash: ""))
    }

    @Test func nextStateMovesAsDocumented() throws {
        // The documentation's example: in Implement, Review by one of two transitions, Canceled.
        let body = try Self.parse(#"""
            {"result":{"available_states":["0","4","-1"],"state_transitions":[
              [{"from_state":"-1","to_state":"0","transition_available":false,"automatic_transition":true,"conditions":[]},
               {"from_state":"-1","to_state":"0","transition_available":true,"automatic_transition":false,"conditions":[]}],
              [{"from_state":"-1","to_state":"4","transition_available":true,"automatic_transition":false,"conditions":[]}]],
             "state_label":{"0":"Review","4":"Canceled","-1":"Implement"}}}
            """#)
        #expect(try RecordDecoding.nextStateMoves(body, current: nil) == [.review, .canceled])
        // A type-driven answer has no transitions: the current state comes from the change.
        let legacy = try Self.parse(#"{"result":{"available_states":["-1","0","4"]}}"#)
        #expect(try RecordDecoding.nextStateMoves(legacy, current: .implement) == [.review, .canceled])
    }
}
