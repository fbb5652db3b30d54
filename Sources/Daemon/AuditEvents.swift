import AuditTrail
import Executor
import Foundation
import QueueStore
import ServiceNowClient
import ServiceNowModel
import QueueContract
import StateMachine

/// The audit records of a deployment's decisions (kinds in `AuditKind`; the README documents their details).
/// Times are UTC ISO-8601, as in the database.
enum Audit {
    static func enqueued(_ row: TaskRecord, accepted: Bool, controlled: Bool?, reason: String?) -> AuditEvent {
        func text(_ v: RawValue) -> AuditValue {
            if case .text(let s) = v, !s.isEmpty { return .string(String(s.prefix(256))) }
            return .null
        }
        var d: [String: AuditValue] = [
            "requested_by": text(row.raw.requestedBy), "project": text(row.raw.project), "environment": text(row.raw.environment),
            "release": text(row.raw.release), "change_number_given": text(row.raw.changeNumber),
            "queued_at": .optional(row.createdAt.map(Timestamp.format)), "accepted": .bool(accepted),
        ]
        if let controlled { d["change_controlled"] = .bool(controlled) }
        if let reason { d["reason"] = .string(reason) }
        return AuditEvent(AuditKind.enqueued, d)
    }

    static func changeLinked(_ change: ChangeSnapshot, _ link: ChangeLink, task: ActiveTask) -> AuditEvent {
        var d: [String: AuditValue] = [
            "change_number": .string(change.number), "change_sys_id": .string(change.sysID), "change_type": .string(change.type.rawValue),
            "link": .string(link.rawValue), "connection": .optional(task.connection),
            "change_state": .string(change.state.displayName), "approval": .string(change.approval.rawValue),
        ]
        if link == .createdStandard { d["template"] = .optional(task.project.changeTemplate) }
        return AuditEvent(AuditKind.changeLinked, d)
    }

    /// Implement seen (the fresh read that lets the deployment start), who approved, and the planned window.
    static func approved(_ change: ChangeSnapshot, at now: Date, approvers: Result<[ApproverRecord], ServiceNowError>?) -> [AuditEvent] {
        var d: [String: AuditValue] = [
            "change_number": .string(change.number), "change_state": .string(change.state.displayName),
            "approval": .string(change.approval.rawValue), "implement_seen_at": .string(Timestamp.format(now)),
            "change_updated_on": .optional(change.updatedOn.map(Timestamp.format)),
        ]
        switch approvers {
        case .success(let list)?:
            d["approvers"] = .array(list.map { a in
                .object(["name": .string(a.approverName), "sys_id": .string(a.approverSysID), "state": .string(a.state.rawValue),
                         "at": .optional(a.updatedOn.map(Timestamp.format))])
            })
        case .failure(let error)?:
            d["approvers"] = .null
            d["approvers_error"] = .string("the approvers could not be read: \(error)")
        case nil:
            d["approvers"] = .null
            d["approvers_error"] = .string("the approvers were not read")
        }
        let window = AuditEvent(AuditKind.window, [
            "change_number": .string(change.number),
            "planned_start": .optional(change.plannedStart.map(Timestamp.format)),
            "planned_end": .optional(change.plannedEnd.map(Timestamp.format)),
        ])
        return [AuditEvent(AuditKind.approved, d), window]
    }

    static func executionStarted(pid: Int32, task: ActiveTask) -> AuditEvent {
        AuditEvent(AuditKind.executionStarted, [
            "pid": .int(Int64(pid)), "command": .array(task.project.command.map(AuditValue.string)),
            "change_number": .optional(task.change?.number),
        ])
    }

    /// The end of the run, and why changegate stopped it when it did.
    static func executionEnded(_ run: RunResult, abort: Abort?, reason: String?) -> [AuditEvent] {
        var events = [AuditEvent(AuditKind.executionEnded, [
            "exit_code": .int(Int64(run.termination.exitCode)), "termination": .string(run.termination.description),
            "duration_ms": .int(Int64(run.duration.seconds * 1000)),
        ])]
        if let abort { events.append(aborted(abort, reason: reason)) }
        return events
    }

    static func aborted(_ abort: Abort, reason: String?) -> AuditEvent {
        let why: String
        switch abort {
        case .changeLeftImplement(let state): why = "change left Implement (now \(state.displayName))"
        case .windowClosed: why = "change window closed"
        case .blackout(let schedule): why = "blackout \(schedule) began"
        case .timeout: why = "execution timeout"
        case .cancelled: why = "cancelled"
        case .shutdownInterrupted: why = "daemon stopped or restarted"
        }
        var d: [String: AuditValue] = ["why": .string(why)]
        if let reason { d["reason"] = .string(reason) }
        return AuditEvent(AuditKind.aborted, d)
    }

    /// The change moved to Review or Closed after the run.
    static func changeMoved(_ change: ChangeSnapshot, _ move: ChangeUpdate) -> AuditEvent {
        AuditEvent(AuditKind.changeMoved, [
            "change_number": .string(change.number), "state": .optional(move.state?.displayName),
            "close_code": .optional(move.closeCode?.rawValue), "close_notes": .optional(move.closeNotes),
        ])
    }

    static func changeLeftOpen(_ change: ChangeSnapshot, why: String) -> AuditEvent {
        AuditEvent(AuditKind.changeLeftOpen, ["change_number": .string(change.number), "why": .string(why)])
    }

    static func changeUpdateFailed(_ change: ChangeSnapshot, error: String) -> AuditEvent {
        AuditEvent(AuditKind.changeUpdateFailed, ["change_number": .string(change.number), "error": .string(error)])
    }

    /// A finished conflict check: what ServiceNow reported and what the gate did with it.
    static func conflictCheck(_ report: ConflictReport, task: ActiveTask, mode: String, held: Bool, refused: Bool) -> AuditEvent {
        let decision = refused ? "refused" : held ? "held" : "passed"
        return AuditEvent(AuditKind.conflictCheck, [
            "change_number": .optional(task.change?.number), "mode": .string(mode), "status": .string(report.status.rawValue),
            "last_run": .optional(report.lastRun.map(Timestamp.format)), "decision": .string(decision),
            "conflicts": .array(report.conflicts.map { c in
                .object(["type": .string(c.type), "kind": .string(c.kind.rawValue), "description": .string(c.description),
                         "ci": .optional(c.configurationItem), "schedule": .optional(c.schedule), "other_change": .optional(c.otherChange)])
            }),
        ])
    }

    static func evidenceAttached(_ change: ChangeSnapshot, _ attachments: [AttachmentRecord], workTimes: Bool, evidenceHash: String) -> AuditEvent {
        AuditEvent(AuditKind.evidenceAttached, [
            "change_number": .string(change.number), "work_times_set": .bool(workTimes), "evidence_sha256": .string(evidenceHash),
            "attachments": .array(attachments.map { a in
                .object(["sys_id": .string(a.sysID), "file_name": .string(a.fileName), "size_bytes": .int(Int64(a.sizeBytes)),
                         "hash": .string(a.hash)])
            }),
        ])
    }

    static func evidenceUploadFailed(_ change: ChangeSnapshot, file: String, attempts: Int, error: String) -> AuditEvent {
        AuditEvent(AuditKind.evidenceUploadFailed, [
            "change_number": .string(change.number), "file_name": .string(file), "attempts": .int(Int64(attempts)), "error": .string(error),
        ])
    }

    /// succeeded, failed or cancelled, with the outcome and reason.
    static func finished(_ state: TaskState, outcome: Outcome?, reason: String?) -> AuditEvent {
        AuditEvent(state.rawValue, ["outcome": .optional(outcome?.rawValue), "reason": .optional(reason)])
    }
}
