import Foundation
import QueueContract
import ServiceNowModel

/// What the state machine knows about a task when it decides. Built by the daemon from the queue row.
public struct TaskView: Sendable, Equatable {
    public var id: Int64
    public var state: TaskState
    public var changeControlled: Bool
    public var changeNumber: String?
    /// When the task started waiting for approval (for the approval timeout).
    public var waitingSince: Date?
    public var cancelRequested: Bool
    /// The outcome decided before `completing`.
    public var outcome: Outcome?

    public init(id: Int64, state: TaskState, changeControlled: Bool, changeNumber: String? = nil,
                waitingSince: Date? = nil, cancelRequested: Bool = false, outcome: Outcome? = nil) {
        self.id = id
        self.outcome = outcome
        self.state = state
        self.changeControlled = changeControlled
        self.changeNumber = changeNumber
        self.waitingSince = waitingSince
        self.cancelRequested = cancelRequested
    }
}

/// Per-project timing rules the decisions depend on.
public struct Policy: Sendable, Equatable {
    public var approvalTimeout: Duration
    public init(approvalTimeout: Duration = .seconds(72 * 3600)) { self.approvalTimeout = approvalTimeout }
}

/// Something that happened, which the machine turns into the next state.
public enum Input: Sendable, Equatable {
    /// The row passed validation (queued only); `slotAvailable` says whether a not-controlled deployment may start now.
    case accepted(slotAvailable: Bool)
    /// The row failed validation: the reason names the column.
    case invalid(reason: String)
    /// The change was found or created (creating_change only).
    case changeResolved(ChangeSnapshot, ChangeLink)
    /// Finding or creating the change ended in a decision to fail.
    case changeResolutionFailed(Outcome, reason: String)
    /// A read of the task's change (batched in awaiting_approval/executing, fresh in implement_check).
    /// `rejectionComment` carries an approver's comment when the approval was rejected.
    case changeStatus(ChangeSnapshot, rejectionComment: String?)
    /// A fresh read of the change in implement_check, and whether the concurrency limit leaves room to start.
    case freshStatus(ChangeSnapshot, slotAvailable: Bool)
    /// The child process ended. `abortedFor` is set when changegate stopped it.
    case childExited(exitCode: Int32, abortedFor: Abort?)
    /// Completing work is done (work notes, close); the outcome decided earlier is final.
    case completed
    /// A ServiceNow call failed in a way that retrying will not fix.
    case serviceNowFailed(reason: String)
}

/// Why changegate stopped a running deployment.
public enum Abort: Sendable, Equatable {
    case changeLeftImplement(ChangeState)
    case windowClosed
    case timeout
    case cancelled
    case shutdownInterrupted
}

/// What the daemon must do next, besides storing the new state.
public enum Effect: Sendable, Equatable {
    case resolveChange
    case freshChangeRead
    case startDeployment
    case stopDeployment(Abort)
    case complete(outcome: Outcome)
}

/// The result of one decision.
public struct Transition: Sendable, Equatable {
    public var next: TaskState
    public var outcome: Outcome?
    public var reason: String?
    public var effects: [Effect]

    public init(next: TaskState, outcome: Outcome? = nil, reason: String? = nil, effects: [Effect] = []) {
        self.next = next
        self.outcome = outcome
        self.reason = reason
        self.effects = effects
    }

    static func stay(_ state: TaskState) -> Transition { Transition(next: state) }

    static func fail(_ outcome: Outcome, _ reason: String) -> Transition {
        Transition(next: .failed, outcome: outcome, reason: reason)
    }

    /// Ends through `completing`, so the change gets its closing work note.
    static func finish(_ outcome: Outcome, _ reason: String) -> Transition {
        Transition(next: .completing, outcome: outcome, reason: reason, effects: [.complete(outcome: outcome)])
    }
}
