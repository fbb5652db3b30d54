import ChangegateConfig
import Executor
import Foundation
import QueueContract
import ServiceNowModel
import StateMachine
import Synchronization

/// A task the daemon is working on, kept in memory between queue writes. Only the scheduler loop touches it.
struct ActiveTask: Sendable {
    var id: Int64
    var state: TaskState
    var request: DeploymentRequest
    var project: ProjectSettings
    var controlled: Bool
    var correlationID: String
    var change: ChangeSnapshot?
    var changeLink: ChangeLink?
    var waitingSince: Date?
    var notBefore: Date?
    var startedAt: Date?
    var outcome: Outcome?
    var reason: String?
    var exitCode: Int32?
    var cancelRequested = false
    var abort: Abort?
    /// The deploy command's identity, once durably recorded.
    var identity: ChildIdentity?
    /// What runs for this task in a child task, if anything; the loop gives it no other work meanwhile.
    var work: Work?
    var holdsSlot = false
    var waitingForSlot = false
    /// Set while the deploy command runs (or its guard waits).
    var stop: StopTrigger?
    var release: ReleaseGate?
    /// `stop` and `release` belong to a guard spawned while the task waited (`ArmedGuard`): starting the deployment
    /// takes it over instead of spawning one.
    var adoptedGuard = false
    var runDuration: Duration?
    /// The deadline last scheduled for this task, and a generation that makes older heap entries stale.
    var deadline: Date?
    var deadlineGeneration: UInt64 = 0
    /// Likewise for the retry an `Effect.retry` asked for.
    var retryGeneration: UInt64 = 0
    /// The schedule-aware gate: the latest conflict report, the latest finished one, and the change's blackout
    /// spans (read once).
    var conflict: ConflictReport?
    var conflictVerdict: ConflictReport?
    var blackouts: [BlackoutSpan]?

    var slotKey: String { "\(request.project)\u{1F}\(request.environment)" }
    var connection: String? { project.connection }

    var view: TaskView {
        TaskView(id: id, state: state, changeControlled: controlled, change: change, waitingSince: waitingSince,
                 notBefore: notBefore, cancelRequested: cancelRequested, outcome: outcome, abort: abort,
                 childRecorded: identity != nil).with(conflict: conflict, verdict: conflictVerdict, blackouts: blackouts, startedAt: startedAt)
    }

    /// The change the poll must watch for this task, if any: waiting for approval or a slot, or running under it.
    var watched: WatchKey? {
        guard controlled, let connection, let number = change?.number else { return nil }
        switch state {
        case .awaitingApproval, .implementCheck: return WatchKey(connection: connection, number: number)
        case .executing where abort == nil: return WatchKey(connection: connection, number: number)
        default: return nil
        }
    }

    /// Log metadata (journald fields TASK_ID, PROJECT, …).
    var metadata: [String: String] {
        var m = ["task_id": "\(id)", "project": request.project, "environment": request.environment,
                 "release": request.release, "task_state": state.rawValue]
        if let n = change?.number { m["change_number"] = n }
        if let o = outcome { m["outcome"] = o.rawValue }
        return m
    }
}

/// Work running for a task in a child task.
enum Work: Sendable, Equatable {
    /// A ServiceNow call; counts against the connection's work in flight.
    case serviceNow(connection: String)
    case deployment
    case leftover
    case local
}

/// Holds a spawned guard until the scheduler has recorded its pid: `open(true)` lets the command run,
/// `open(false)` (a stop before release) ends it unrun. Opened once; later calls change nothing.
final class ReleaseGate: Sendable {
    private let state = Mutex<(value: Bool?, waiter: CheckedContinuation<Bool, Never>?)>((nil, nil))

    func open(_ go: Bool) {
        let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard s.value == nil else { return nil }
            s.value = go
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: go)
    }

    /// The decision; false if the waiting task is cancelled first.
    func wait() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let now = state.withLock { s -> Bool? in
                    if let v = s.value { return v }
                    if Task.isCancelled { return false }
                    s.waiter = c
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            open(false)
        }
    }
}
