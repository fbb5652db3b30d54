import ChangegateConfig
import Executor
import Foundation
import QueueStore
import ServiceNowModel
import QueueContract
import StateMachine

/// A task the daemon is working on, kept in memory between queue writes.
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
    var startedAt: Date?
    var outcome: Outcome?
    var reason: String?
    var exitCode: Int32?
    var cancelRequested = false
    /// An effect for this task is running in a child task; the loop leaves the task alone until it reports back.
    var busy = false
    /// Set while the deploy command runs.
    var stop: StopTrigger?
    var abort: Abort?
    var pid: Int32?
    /// When a transient ServiceNow failure last happened, to space out retries.
    var retryAfter: Date?
    var runDuration: Duration?

    var slotKey: String { "\(request.project)\u{1F}\(request.environment)" }

    var view: TaskView {
        TaskView(id: id, state: state, changeControlled: controlled, changeNumber: change?.number,
                 waitingSince: waitingSince, cancelRequested: cancelRequested, outcome: outcome)
    }

    var connection: String? { project.connection }

    /// Log metadata (journald fields TASK_ID, PROJECT, …).
    var metadata: [String: String] {
        var m = ["task_id": "\(id)", "project": request.project, "environment": request.environment,
                 "release": request.release, "task_state": state.rawValue]
        if let n = change?.number { m["change_number"] = n }
        if let o = outcome { m["outcome"] = o.rawValue }
        return m
    }
}
