import AuditTrail
import Foundation
import QueueContract

/// A set of column updates for one task, written with its log lines in one transaction.
public struct TaskChange: Sendable {
    public var state: TaskState?
    public var outcome: Outcome?
    public var reason: String?
    public var changeNumber: String?
    public var changeSysID: String?
    public var changeLink: ChangeLink?
    public var changeTypeUsed: String?
    public var correlationID: String?
    public var exitCode: Int32?
    public var childPID: Int32?
    /// `ChildIdentity.recorded` of the deploy command (pid, start time, boot id).
    public var childIdentity: String?
    public var waitingSince: Date?
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Event lines for the task log.
    public var events: [String]
    /// Audit records to append, hash-chained, in the same transaction.
    public var audit: [AuditEvent]

    public init(state: TaskState? = nil, outcome: Outcome? = nil, reason: String? = nil, changeNumber: String? = nil,
                changeSysID: String? = nil, changeLink: ChangeLink? = nil, changeTypeUsed: String? = nil,
                correlationID: String? = nil, exitCode: Int32? = nil, childPID: Int32? = nil, childIdentity: String? = nil, waitingSince: Date? = nil,
                startedAt: Date? = nil, finishedAt: Date? = nil, events: [String] = [], audit: [AuditEvent] = []) {
        self.state = state
        self.outcome = outcome
        self.reason = reason
        self.changeNumber = changeNumber
        self.changeSysID = changeSysID
        self.changeLink = changeLink
        self.changeTypeUsed = changeTypeUsed
        self.correlationID = correlationID
        self.exitCode = exitCode
        self.childPID = childPID
        self.childIdentity = childIdentity
        self.waitingSince = waitingSince
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.events = events
        self.audit = audit
    }

    /// This change followed by `later`: the later value of each column wins, events and audit records keep their order.
    func followed(by later: TaskChange) -> TaskChange {
        TaskChange(state: later.state ?? state, outcome: later.outcome ?? outcome, reason: later.reason ?? reason,
                   changeNumber: later.changeNumber ?? changeNumber, changeSysID: later.changeSysID ?? changeSysID,
                   changeLink: later.changeLink ?? changeLink, changeTypeUsed: later.changeTypeUsed ?? changeTypeUsed,
                   correlationID: later.correlationID ?? correlationID, exitCode: later.exitCode ?? exitCode,
                   childPID: later.childPID ?? childPID, childIdentity: later.childIdentity ?? childIdentity,
                   waitingSince: later.waitingSince ?? waitingSince, startedAt: later.startedAt ?? startedAt,
                   finishedAt: later.finishedAt ?? finishedAt, events: events + later.events, audit: audit + later.audit)
    }

    /// Adjacent changes of the same task as one (one UPDATE instead of several); the order of everything is kept.
    static func coalesced(_ changes: [(Int64, TaskChange)]) -> [(Int64, TaskChange)] {
        var out: [(Int64, TaskChange)] = []
        out.reserveCapacity(changes.count)
        for (id, change) in changes {
            if let last = out.last, last.0 == id {
                out[out.count - 1].1 = last.1.followed(by: change)
            } else {
                out.append((id, change))
            }
        }
        return out
    }

    /// Nothing to write.
    public var isEmpty: Bool { events.isEmpty && audit.isEmpty && assignments.isEmpty }

    /// Column and value pairs to write, for every backend (values are String or Int64).
    package var assignments: [(String, (any Sendable)?)] {
        var a: [(String, (any Sendable)?)] = []
        if let state { a.append(("state", state.rawValue)) }
        if let outcome { a.append(("outcome", outcome.rawValue)) }
        if let reason { a.append(("reason", reason)) }
        if let changeNumber { a.append(("change_number", changeNumber)) }
        if let changeSysID { a.append(("change_sys_id", changeSysID)) }
        if let changeLink { a.append(("change_link", changeLink.rawValue)) }
        if let changeTypeUsed { a.append(("change_type_used", changeTypeUsed)) }
        if let correlationID { a.append(("correlation_id", correlationID)) }
        if let exitCode { a.append(("exit_code", Int64(exitCode))) }
        if let childPID { a.append(("child_pid", Int64(childPID))) }
        if let childIdentity { a.append(("child_identity", childIdentity)) }
        if let waitingSince { a.append(("waiting_since", Timestamp.format(waitingSince))) }
        if let startedAt { a.append(("started_at", Timestamp.format(startedAt))) }
        if let finishedAt { a.append(("finished_at", Timestamp.format(finishedAt))) }
        return a
    }
}

/// One line of a task's log.
public struct LogLine: Sendable, Equatable {
    public enum Stream: String, Sendable { case event, stdout, stderr }
    public var id: Int64
    public var taskID: Int64
    public var at: Date
    public var stream: Stream
    public var text: String

    public init(id: Int64 = 0, taskID: Int64, at: Date, stream: Stream, text: String) {
        self.id = id
        self.taskID = taskID
        self.at = at
        self.stream = stream
        self.text = text
    }
}
