import Foundation
import ServiceNowModel

/// A Change Management worker's answer (`POST …/ci`, `GET …/worker/{sys_id}`).
struct WorkerStatus: Sendable {
    var sysID: String
    /// 1 Waiting, 2 In-Progress, 3 Complete, 4 Error.
    var state: Int
    var errors: [String]
    var warnings: [String]

    var finished: Bool { state >= 3 || state <= 0 }
}

extension RecordDecoding {
    /// `{"result":{"status","last_run","record_count","job_status","conflicts":[…]}}`. The documented `status` reads
    /// "Conflict" even when nothing conflicts, so the list decides; `job_status` "2" is a finished check in the
    /// documentation's example, numbers below it and words like "running" are a check still going.
    static func conflictReport(_ body: JSONValue) throws(DecodingProblem) -> ConflictReport {
        guard let result = body["result"], result.objectValue != nil else { throw DecodingProblem(reason: "no \"result\" object in the answer") }
        let rawStatus = (result["status"]?.fieldValue ?? "").lowercased()
        let job = (result["job_status"]?.fieldValue ?? "").lowercased().trimmingCharacters(in: .whitespaces)
        let running = ["0", "1", "running", "in-progress", "in progress", "waiting", "queued", "pending", "starting", "ready"].contains(job)
        var conflicts: [ChangeConflict] = []
        for item in result["conflicts"]?.arrayValue ?? [] {
            guard let o = item.objectValue else { throw DecodingProblem(reason: "a conflict is not an object") }
            conflicts.append(conflict(o))
        }
        let lastRun = result["last_run"]?.fieldValue.flatMap(GlideDateTime.parse)
        let status: ConflictReport.Status
        if !conflicts.isEmpty {
            status = .conflict
        } else if rawStatus == "not run" || rawStatus.isEmpty && lastRun == nil {
            status = .notRun
        } else if running {
            status = rawStatus == "no conflict" ? .noConflict : rawStatus == "conflict" ? .conflict : .notRun
        } else {
            status = .noConflict
        }
        return ConflictReport(status: status, inProgress: running, lastRun: lastRun, conflicts: conflicts)
    }

    /// One `conflict` record, in the `{"display_value","value"}` shape or raw.
    static func conflict(_ r: [String: JSONValue]) -> ChangeConflict {
        let type = r["type"]?.fieldValue ?? ""
        let kind = ChangeConflict.Kind(rawValue: type) ?? .other
        func shown(_ field: String) -> String? {
            guard let f = r[field], let v = f.fieldDisplayValue ?? f.fieldValue, !v.isEmpty else { return nil }
            return v
        }
        let ci = shown("configuration_item") ?? shown("ci_item") ?? shown("cmdb_ci")
        let schedule = shown("schedule")
        let other = shown("conflicting_change")
        let label = r["type"]?.fieldDisplayValue.flatMap { $0.isEmpty ? nil : $0 } ?? type
        var text = label
        if let ci { text += " on CI \(ci)" }
        if let schedule { text += " (schedule \(schedule))" }
        if let other { text += " (change \(other))" }
        return ChangeConflict(kind: kind, type: type, description: text, configurationItem: ci, schedule: schedule, otherChange: other)
    }

    static func configurationItem(_ r: [String: JSONValue]) throws(DecodingProblem) -> ConfigurationItem {
        guard let id = r["sys_id"]?.fieldValue, !id.isEmpty else { throw DecodingProblem(reason: "a CI has no sys_id") }
        return ConfigurationItem(sysID: id, name: r["name"]?.fieldValue ?? "")
    }

    static func worker(_ body: JSONValue) throws(DecodingProblem) -> WorkerStatus {
        guard let result = body["result"] else { throw DecodingProblem(reason: "no \"result\" in the answer") }
        guard let id = result["worker"]?["sysId"]?.scalarText ?? result["worker"]?["sys_id"]?.scalarText, !id.isEmpty else {
            throw DecodingProblem(reason: "the worker has no sysId")
        }
        let stateText = result["state"]?.fieldValue ?? ""
        let state = Int(stateText) ?? ["waiting": 1, "in-progress": 2, "complete": 3, "error": 4][stateText.lowercased()] ?? 0
        func list(_ key: String) -> [String] { result["messages"]?[key]?.arrayValue?.compactMap(\.scalarText) ?? [] }
        return WorkerStatus(sysID: id, state: state, errors: list("errorMessages"), warnings: list("warningMessages"))
    }

    /// A `sys_attachment` record of the Attachment API (every value a string).
    static func attachment(_ r: [String: JSONValue]) throws(DecodingProblem) -> AttachmentRecord {
        guard let id = r["sys_id"]?.fieldValue, !id.isEmpty else { throw DecodingProblem(reason: "an attachment has no sys_id") }
        return AttachmentRecord(sysID: id, fileName: r["file_name"]?.fieldValue ?? "", contentType: r["content_type"]?.fieldValue ?? "",
                                sizeBytes: Int(r["size_bytes"]?.fieldValue ?? "") ?? -1, hash: r["hash"]?.fieldValue ?? "")
    }

    /// The moves `/nextstates` allows now: its states without the current one (`from_state`, or `current` when the
    /// answer has no transitions, as type-driven changes answer) and without those whose every transition is unavailable.
    static func nextStateMoves(_ body: JSONValue, current: ChangeState?) throws(DecodingProblem) -> [ChangeState] {
        let states = try nextStates(body)
        let groups = body["result"]?["state_transitions"]?.arrayValue ?? []
        let transitions = groups.flatMap { $0.arrayValue ?? [$0] }
        let from = transitions.lazy.compactMap { $0["from_state"]?.fieldValue.flatMap { Int($0) }.flatMap(ChangeState.init(rawValue:)) }.first ?? current
        return states.filter { s in
            guard s != from else { return false }
            let to = transitions.filter { $0["to_state"]?.fieldValue == String(s.rawValue) }
            return to.isEmpty || to.contains { $0["transition_available"] == .bool(true) || $0["transition_available"]?.fieldValue == "true" }
        }
    }
}
