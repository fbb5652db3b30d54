import AuditTrail
import ChangegateConfig
import Foundation
import QueueStore
import QueueContract
import StateMachine

/// Builds an export row from a deployment and its audit records (the records are the evidence; the
/// deployments row adds what the daemon keeps there: state, times, outcome).
enum ExportRows {
    static func row(_ t: TaskRecord, audit: [AuditRecord], config: ChangegateConfiguration?) -> AuditExportRow {
        func text(_ v: RawValue) -> String { TaskRecord.display(v) }
        var row = AuditExportRow(taskID: t.id, project: text(t.raw.project), environment: text(t.raw.environment),
                                 release: text(t.raw.release), state: t.state.rawValue)
        row.requestedBy = text(t.raw.requestedBy).nilIfEmpty
        row.changeNumber = t.changeNumber
        row.changeType = t.changeTypeUsed
        row.linkedBy = t.changeLink?.rawValue
        row.startedAt = t.startedAt.map(Timestamp.format)
        row.finishedAt = t.finishedAt.map(Timestamp.format)
        row.outcome = t.outcome?.rawValue
        row.reason = t.reason

        func last(_ kind: String) -> [String: AuditValue]? { audit.last { $0.kind == kind }?.detailValues }
        let linked = last(AuditKind.changeLinked)
        if let approved = last(AuditKind.approved) {
            row.approvedAt = approved["implement_seen_at"]?.stringValue
            if let list = approved["approvers"]?.arrayValue {
                row.approvers = list.map { a in
                    AuditExportRow.Approver(name: a["name"]?.stringValue ?? "?", state: a["state"]?.stringValue ?? "?", at: a["at"]?.stringValue)
                }
            } else {
                row.approversError = approved["approvers_error"]?.stringValue ?? "not recorded"
            }
        }
        if let window = last(AuditKind.window) {
            row.windowStart = window["planned_start"]?.stringValue
            row.windowEnd = window["planned_end"]?.stringValue
        }
        row.closeCode = audit.last { $0.kind == AuditKind.changeMoved && $0.detailValues["close_code"]?.stringValue != nil }?
            .detailValues["close_code"]?.stringValue
        row.auditSeq = audit.last?.seq
        row.auditHash = audit.last?.hash

        // The link: the connection the change was found on (else the project's), from the config.
        if let sysID = t.changeSysID, let config {
            let connection = linked?["connection"]?.stringValue ?? config.projects[row.project]?.connection
            if let url = connection.flatMap({ config.connections[$0]?.url }) {
                var root = url.trimmingCharacters(in: .whitespaces)
                while root.hasSuffix("/") { root.removeLast() }
                let id = sysID.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? sysID
                row.changeURL = "\(root)/change_request.do?sys_id=\(id)"
            }
        }
        return row
    }
}
