import AuditTrail
import Foundation
import Testing
import TestSupport

@Suite struct AuditExportTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    /// Rows with every awkward value: commas, quotes, newlines, CRLF, formula starts, non-ASCII, missing values.
    static var rows: [AuditExportRow] {
        var a = AuditExportRow(taskID: 1, project: "web-shop", environment: "Production", release: "2.4.1", state: "succeeded")
        a.requestedBy = "alice"
        a.changeNumber = "CHG0030001"
        a.changeType = "normal"
        a.linkedBy = "created_normal"
        a.changeURL = "https://acme.service-now.com/change_request.do?sys_id=c1a3e5f7091b2d4f6a8c0e1f3b5d7f90"
        a.approvers = [.init(name: "Alice Approver", state: "approved", at: "2026-03-01T09:58:00Z"),
                       .init(name: "Bob, \"CAB\"", state: "approved", at: nil)]
        a.approvedAt = "2026-03-01T10:00:00.250Z"
        a.windowStart = "2026-03-01T09:00:00Z"
        a.windowEnd = "2026-03-01T17:00:00Z"
        a.startedAt = "2026-03-01T10:00:00.300Z"
        a.finishedAt = "2026-03-01T10:02:00.000Z"
        a.outcome = "succeeded"
        a.reason = "Deployed under change CHG0030001"
        a.closeCode = "successful"
        a.auditSeq = 9
        a.auditHash = "5f0c6d2a9b8e7f6a5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e"

        var b = AuditExportRow(taskID: 2, project: "api", environment: "Test, \"EU\"", release: "line1\nline2\r\nline3", state: "failed")
        b.requestedBy = "=HYPERLINK(\"http://evil\")"
        b.outcome = "invalid_request"
        b.reason = "-variables: is not valid JSON; expected an object such as {\"FEATURE_FLAG\": \"on\"}"
        b.finishedAt = "2026-03-01T11:00:00.000Z"
        b.auditSeq = 11
        b.auditHash = "0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d"

        var c = AuditExportRow(taskID: 3, project: "ünïcødé", environment: "Production", release: "7", state: "cancelled")
        c.changeNumber = "CHG0030002"
        c.changeType = "standard"
        c.linkedBy = "created_standard"
        c.approversError = "ServiceNow connection 'sim': access denied (Operation Failed)"
        c.outcome = "cancelled"
        c.reason = "Cancelled before the deployment started"
        return [a, b, c]
    }

    static func check(_ actual: String, against file: String) throws {
        let url = golden.appendingPathComponent(file)
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try Data(actual.utf8).write(to: url)
        }
        let expected = try Data(contentsOf: url)
        #expect(Data(actual.utf8) == expected, "differs from \(file); run with UPDATE_GOLDEN=1 to rewrite it, then review the diff")
    }

    @Test func csvMatchesTheGoldenFile() throws {
        let csv = AuditExport.csvHeader + Self.rows.map(AuditExport.csvLine).joined()
        try Self.check(csv, against: "export.csv")
    }

    @Test func jsonLinesMatchTheGoldenFile() throws {
        let json = Self.rows.map(AuditExport.jsonLine).joined()
        try Self.check(json, against: "export.jsonl")
    }

    @Test func csvFollowsRFC4180() {
        #expect(AuditExport.csvField("plain") == "plain")
        #expect(AuditExport.csvField("a,b") == "\"a,b\"")
        #expect(AuditExport.csvField("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(AuditExport.csvField("two\nlines") == "\"two\nlines\"")
        #expect(AuditExport.csvField("crlf\r\nend") == "\"crlf\r\nend\"")
        #expect(AuditExport.csvField("") == "")
        #expect(AuditExport.csvHeader.hasSuffix("\r\n"))
        #expect(AuditExport.csvLine(Self.rows[0]).hasSuffix("\r\n"))
    }

    @Test func formulasAreDefused() {
        #expect(AuditExport.csvField("=1+1") == "'=1+1")
        #expect(AuditExport.csvField("@SUM(A1)") == "'@SUM(A1)")
        #expect(AuditExport.csvField("+1,2") == "\"'+1,2\"")
    }

    /// Parses the CSV back with a strict RFC 4180 reader: every record has every column, values survive.
    @Test func csvParsesBackToTheSameValues() throws {
        let csv = AuditExport.csvHeader + Self.rows.map(AuditExport.csvLine).joined()
        let records = RFC4180.parse(csv)
        #expect(records.count == 4)
        #expect(records.allSatisfy { $0.count == AuditExport.columns.count })
        #expect(records[0] == AuditExport.columns)
        let release = AuditExport.columns.firstIndex(of: "release")!
        #expect(records[2][release] == "line1\nline2\r\nline3")
        #expect(records[2][AuditExport.columns.firstIndex(of: "environment")!] == "Test, \"EU\"")
        #expect(records[1][AuditExport.columns.firstIndex(of: "approvers")!]
                == "Alice Approver: approved 2026-03-01T09:58:00Z; Bob, \"CAB\": approved")
    }

    @Test func jsonLinesAreOneObjectEach() throws {
        let lines = Self.rows.map(AuditExport.jsonLine)
        for (line, row) in zip(lines, Self.rows) {
            #expect(line.filter { $0 == "\n" }.count == 1 && line.hasSuffix("\n"))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["task_id"] as? Int == Int(row.taskID))
            #expect(object["release"] as? String == row.release)
            #expect(Set(object.keys).isSuperset(of: AuditExport.columns))
        }
    }
}
