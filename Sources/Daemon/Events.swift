import AuditTrail
import Executor
import Foundation
import ServiceNowClient
import ServiceNowModel
import QueueContract
import StateMachine
import Synchronization

/// Results of the work the scheduler hands to child tasks, delivered back to the scheduler loop.
enum SchedulerEvent: Sendable {
    case resolved(taskID: Int64, Resolution)
    /// `approvers` is read with the change when it is in Implement (for the audit trail); nil otherwise.
    case freshStatus(taskID: Int64, Result<ChangeSnapshot, ServiceNowError>, approvers: Result<[ApproverRecord], ServiceNowError>? = nil)
    case statuses(connection: String, numbers: [String], Result<[String: ChangeSnapshot], ServiceNowError>)
    case rejection(taskID: Int64, ChangeSnapshot, comment: String?)
    case childStarted(taskID: Int64, pid: Int32)
    case childExited(taskID: Int64, Result<RunResult, ExecutorError>)
    case completed(taskID: Int64, notes: [String], audit: [AuditEvent] = [])
}

/// How finding or creating a change ended.
enum Resolution: Sendable {
    case found(ChangeSnapshot, ChangeLink, notes: [String])
    case failed(Outcome, reason: String)
    /// Worth another try later (a transient ServiceNow fault); the task stays in creating_change.
    case retryLater(reason: String)
}

/// A mailbox the child tasks post to and the loop drains each pass.
final class Inbox: Sendable {
    private let events = Mutex<[SchedulerEvent]>([])

    func post(_ event: SchedulerEvent) { events.withLock { $0.append(event) } }

    func drain() -> [SchedulerEvent] { events.withLock { e in defer { e.removeAll() }; return e } }

    /// Puts events back at the front (their database write failed; they are applied again next pass).
    func requeue(_ again: [SchedulerEvent]) { events.withLock { $0.insert(contentsOf: again, at: 0) } }
}

/// Output lines of running children, written to the task log in batches by the loop.
final class OutputBuffer: Sendable {
    static let maxPending = 50_000
    private let lines = Mutex<(pending: [QueuedLine], dropped: Int)>(([], 0))

    struct QueuedLine: Sendable {
        var taskID: Int64
        var at: Date
        var stream: ChildStream
        var text: String
    }

    func append(_ line: QueuedLine) {
        lines.withLock { s in
            if s.pending.count >= Self.maxPending { s.dropped += 1 } else { s.pending.append(line) }
        }
    }

    func take() -> (lines: [QueuedLine], dropped: Int) {
        lines.withLock { s in defer { s = ([], 0) }; return (s.pending, s.dropped) }
    }

    func putBack(_ again: [QueuedLine]) {
        lines.withLock { s in s.pending.insert(contentsOf: again.prefix(Self.maxPending), at: 0) }
    }
}
