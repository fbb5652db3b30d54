import AuditTrail
import Foundation
import QueueStore

/// The evidence put on the change after a deployment: the task log as text, and a JSON record for auditors.
enum Evidence {
    static let truncationMarker = "changegate: the log was cut here at the evidence_max_bytes limit; `changegate logs ID` has it all"

    /// `at stream line` per line, cut at `maxBytes` (whole lines, then the marker) so the upload never fails on size.
    static func logText(_ log: [LogLine], maxBytes: Int) -> Data {
        var out = Data()
        let marker = Data((truncationMarker + "\n").utf8)
        for line in log {
            let text = Data("\(Timestamp.format(line.at)) \(line.stream.rawValue) \(line.text)\n".utf8)
            if out.count + text.count + marker.count > maxBytes {
                out.append(marker)
                return out
            }
            out.append(text)
        }
        return out
    }

    /// The record's fields are those issue 12 lists; canonical JSON (sorted keys), so its hash is reproducible.
    static func record(_ task: ActiveTask, records: [AuditRecord], duration: Duration?, end: Date) -> Data {
        let last = records.last
        let approvers = records.last(where: { $0.kind == AuditKind.approved }).flatMap { r -> AuditValue? in
            guard let data = r.details.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
            return AuditValue(json: object["approvers"])
        } ?? .null
        let workEnd = task.startedAt.map { s in duration.map { s.addingTimeInterval($0.seconds) } ?? end }
        let value = AuditValue.object([
            "task_id": .int(task.id), "project": .string(task.request.project), "environment": .string(task.request.environment),
            "release": .string(task.request.release), "requested_by": .optional(task.request.requestedBy),
            "command": .array(task.project.command.map(AuditValue.string)), "exit_code": .optional(task.exitCode),
            "started_at": .optional(task.startedAt.map(Timestamp.format)), "ended_at": .optional(workEnd.map(Timestamp.format)),
            "duration_ms": .optional(duration.map { Int64($0.seconds * 1000) }), "waiting_since": .optional(task.waitingSince.map(Timestamp.format)),
            "outcome": .optional(task.outcome?.rawValue), "reason": .optional(task.reason), "approvers": approvers,
            "change_number": .optional(task.change?.number), "change_sys_id": .optional(task.change?.sysID),
            "audit_seq": .optional(last?.seq), "audit_hash": .optional(last?.hash),
        ])
        return Data(CanonicalJSON.encode(value).utf8)
    }
}

extension AuditValue {
    /// From a JSONSerialization value (the stored details of an audit record).
    init?(json: Any?) {
        switch json {
        case nil, is NSNull: self = .null
        case let b as Bool: self = .bool(b)  // approvers hold strings only; numbers and booleans are kept as they come
        case let n as NSNumber: self = .int(n.int64Value)
        case let s as String: self = .string(s)
        case let a as [Any]: self = .array(a.map { AuditValue(json: $0) ?? .null })
        case let o as [String: Any]: self = .object(o.mapValues { AuditValue(json: $0) ?? .null })
        default: return nil
        }
    }
}
