import AuditTrail
import ChangeWebhook
import Executor
import Foundation
import QueueContract
import ServiceNowClient
import ServiceNowModel
import Synchronization

/// Results of the work the scheduler hands to child tasks, and outside news, delivered to its loop.
enum SchedulerEvent: Sendable {
    case resolved(taskID: Int64, Resolution)
    /// `approvers` is read with the change when it is in Implement (for the audit trail).
    case freshStatus(taskID: Int64, Result<ChangeSnapshot, ServiceNowError>, approvers: Result<[ApproverRecord], ServiceNowError>? = nil)
    /// Changes read by number (`numbers`: those asked for, absent ones are missing) and, in a delta poll, the
    /// changes updated lately. `cycle` is set when the read was the connection's poll; `notified` when a push
    /// notification asked for it.
    case statuses(connection: String, numbers: [String], Result<[String: ChangeSnapshot], ServiceNowError>, cycle: PollCycle? = nil,
                  notified: Bool = false)
    /// ServiceNow says a change was updated (a push notification): it is read again at once.
    case changeNotified(ChangeNotification)
    case rejection(taskID: Int64, ChangeSnapshot, comment: String?)
    /// The change's conflict check report (schedule-aware gate).
    case conflict(taskID: Int64, Result<ConflictReport, ServiceNowError>)
    /// The blackout spans that apply to the change, read once.
    case blackouts(taskID: Int64, Result<[BlackoutSpan], ServiceNowError>)
    case childSpawned(taskID: Int64, ChildIdentity)
    case childExited(taskID: Int64, Result<RunResult, ExecutorError>)
    case leftover(taskID: Int64, LeftoverResult)
    case completed(taskID: Int64, notes: [String], audit: [AuditEvent] = [])
    /// The queue database changed (a producer inserted or cancelled).
    case databaseChanged
    /// Child output is waiting in the `OutputBuffer`.
    case output
    /// A sleeping deadline timer fired; the loop looks at its deadlines.
    case wake
}

/// One poll of a connection: when it started and whether it read every watched change.
struct PollCycle: Sendable {
    var start: Date
    var full: Bool
}

/// How finding or creating a change ended.
enum Resolution: Sendable {
    case found(ChangeSnapshot, ChangeLink, notes: [String])
    case failed(Outcome, reason: String)
    /// Worth another try later (a transient ServiceNow fault); the task stays in creating_change.
    case retryLater(reason: String)
}

/// The loop's mailbox: child tasks post, the loop takes everything at once and sleeps while it is empty.
final class Inbox: Sendable {
    private struct State {
        var events: [SchedulerEvent] = []
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    func post(_ event: SchedulerEvent) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.events.append(event)
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    func take() -> [SchedulerEvent] { state.withLock { s in defer { s.events.removeAll() }; return s.events } }

    /// Puts events back at the front (their database write failed; they are applied again).
    func requeue(_ again: [SchedulerEvent]) { state.withLock { $0.events.insert(contentsOf: again, at: 0) } }

    /// Returns when something was posted, at `deadline`, or when the task is cancelled.
    func wait(until deadline: Date, clock: any SchedulerClock) async {
        if state.withLock({ !$0.events.isEmpty }) { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForPost() }
            group.addTask { try? await clock.sleep(until: deadline) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForPost() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if !s.events.isEmpty || Task.isCancelled { return true }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            state.withLock { s in defer { s.waiter = nil }; return s.waiter }?.resume()
        }
    }
}

/// Output lines of running children, written to the task log in batches by the loop.
final class OutputBuffer: Sendable {
    static let maxPending = 50_000
    private let lines = Mutex<(pending: [QueuedLine], dropped: Int)>(([], 0))
    private let inbox: Inbox

    init(inbox: Inbox) { self.inbox = inbox }

    struct QueuedLine: Sendable {
        var taskID: Int64
        var at: Date
        var stream: ChildStream
        var text: String
    }

    /// Buffers a line; the first line into an empty buffer wakes the loop (one event per batch, not per line).
    func append(_ line: QueuedLine) {
        let first = lines.withLock { s -> Bool in
            if s.pending.count >= Self.maxPending { s.dropped += 1; return false }
            s.pending.append(line)
            return s.pending.count == 1
        }
        if first { inbox.post(.output) }
    }

    func take() -> (lines: [QueuedLine], dropped: Int) {
        lines.withLock { s in defer { s = ([], 0) }; return (s.pending, s.dropped) }
    }

    func putBack(_ again: [QueuedLine]) {
        lines.withLock { s in s.pending.insert(contentsOf: again.prefix(Self.maxPending), at: 0) }
    }
}
