import Foundation
import QueueContract
import ServiceNowModel
@testable import StateMachine

let now = Date(timeIntervalSince1970: 1_800_000_000)

func change(_ state: ChangeState, approval: ApprovalState = .approved, start: Date? = nil, end: Date? = nil) -> ChangeSnapshot {
    ChangeSnapshot(sysID: "abc", number: "CHG0030001", state: state, approval: approval, type: .normal, plannedStart: start, plannedEnd: end)
}

/// In Implement, approved, inside its window.
let ready = change(.implement, start: now.addingTimeInterval(-3600), end: now.addingTimeInterval(3600))
/// Scheduled, waiting for Implement, window ahead.
let scheduled = change(.scheduled, approval: .requested, end: now.addingTimeInterval(3600))
let rejected = change(.authorize, approval: .rejected, end: now.addingTimeInterval(3600))

/// The usual task in each state: controlled; with a change once past creating_change.
func task(_ state: TaskState, controlled: Bool = true, change: ChangeSnapshot? = nil, waitingSince: Date? = now.addingTimeInterval(-60),
          cancel: Bool = false, outcome: Outcome? = nil, abort: Abort? = nil, recorded: Bool = false, notBefore: Date? = nil) -> TaskView {
    let c: ChangeSnapshot?
    switch state {
    case .queued, .creatingChange: c = change
    case .awaitingApproval: c = change ?? scheduled
    default: c = change ?? ready
    }
    return TaskView(id: 7, state: state, changeControlled: controlled, change: c, waitingSince: waitingSince, notBefore: notBefore,
                    cancelRequested: cancel, outcome: outcome ?? (state == .completing ? .succeeded : nil), abort: abort, childRecorded: recorded)
}

func decide(_ task: TaskView, _ input: Input, at time: Date = now, policy: Policy = Policy()) -> Transition {
    StateMachine.decide(task, input, now: time, policy: policy)
}

/// One sample of every input the machine knows.
let sampleInputs: [(String, Input)] = [
    ("accepted", .accepted),
    ("invalid", .invalid(reason: "release: is missing")),
    ("slotGranted", .slotGranted),
    ("tick", .tick),
    ("retryDue", .retryDue),
    ("cancelRequested", .cancelRequested),
    ("changeResolved", .changeResolved(ready, .createdNormal)),
    ("changeResolutionFailed", .changeResolutionFailed(.changeNotFound, reason: "Change CHG9 was not found")),
    ("changeStatus", .changeStatus(ready)),
    ("rejectionDetails", .rejectionDetails(rejected, comment: "not now")),
    ("freshStatus", .freshStatus(ready)),
    ("changeVanished", .changeVanished(reason: "gone")),
    ("serviceNowFailed.transient", .serviceNowFailed(reason: "503", transient: true)),
    ("serviceNowFailed.permanent", .serviceNowFailed(reason: "403", transient: false)),
    ("childSpawned", .childSpawned(pid: 42)),
    ("spawnFailed", .spawnFailed(reason: "deploy not found")),
    ("childExited", .childExited(exitCode: 0, timedOut: false, released: true)),
    ("recovered", .recovered),
    ("leftoverStopped", .leftoverStopped(.killed)),
    ("completed", .completed),
    ("drainTimedOut", .drainTimedOut),
    ("conflictReport", .conflictReport(ConflictReport(status: .conflict, conflicts: [freeze]))),
    ("blackoutSpans", .blackoutSpans([])),
]

/// A blackout conflict as ServiceNow lists it.
let freeze = ChangeConflict(kind: .blackout, type: "blackout", description: "Change freeze", schedule: "Year-end freeze")
let block = Policy(conflictCheck: .block)
let warn = Policy(conflictCheck: .warn)
