import Foundation
import QueueContract
import ServiceNowModel

/// The change-gated state machine: a pure function from (task, input, clock) to the next state and effects.
/// It does no I/O; the daemon performs the effects and feeds results back as inputs.
public enum StateMachine {
    public static func decide(_ task: TaskView, _ input: Input, now: Date, policy: Policy = Policy()) -> Transition {
        if task.state.isTerminal { return .stay(task.state) }
        if task.cancelRequested, let cancel = cancellation(task, input) { return cancel }

        switch (task.state, input) {
        case (.queued, .invalid(let reason)):
            return .fail(.invalidRequest, reason)
        case (.queued, .accepted(let slot)):
            if task.changeControlled { return Transition(next: .creatingChange, effects: [.resolveChange]) }
            return slot ? Transition(next: .executing, effects: [.startDeployment]) : .stay(.queued)

        case (.creatingChange, .changeResolved(let change, _)):
            return afterApprovalCheck(task, change, rejectionComment: nil, now: now, policy: policy)
        case (.creatingChange, .changeResolutionFailed(let outcome, let reason)):
            return .fail(outcome, reason)

        case (.awaitingApproval, .changeStatus(let change, let comment)):
            return afterApprovalCheck(task, change, rejectionComment: comment, now: now, policy: policy)

        case (.implementCheck, .freshStatus(let change, let slot)):
            let t = afterApprovalCheck(task, change, rejectionComment: nil, now: now, policy: policy)
            guard t.next == .implementCheck else { return t }
            return slot ? Transition(next: .executing, effects: [.startDeployment]) : .stay(.implementCheck)

        case (.executing, .changeStatus(let change, _)):
            if change.state != .implement {
                return Transition(next: .executing, effects: [.stopDeployment(.changeLeftImplement(change.state))])
            }
            if let end = change.plannedEnd, now >= end {
                return Transition(next: .executing, effects: [.stopDeployment(.windowClosed)])
            }
            return .stay(.executing)
        case (.executing, .childExited(let code, let abort)):
            return afterExit(task, exitCode: code, abortedFor: abort)

        case (.completing, .completed):
            let outcome = task.outcome ?? .interrupted
            if outcome.isSuccess { return Transition(next: .succeeded, outcome: outcome) }
            return Transition(next: outcome == .cancelled ? .cancelled : .failed, outcome: outcome)

        case (.creatingChange, .serviceNowFailed(let reason)), (.awaitingApproval, .serviceNowFailed(let reason)),
             (.implementCheck, .serviceNowFailed(let reason)):
            return task.changeNumber == nil ? .fail(.servicenowError, reason) : .finish(.servicenowError, reason)

        default:
            // An input that does not apply to the state (e.g. a stale poll result) changes nothing.
            return .stay(task.state)
        }
    }

    /// The approval rules shared by creating_change, awaiting_approval and implement_check.
    /// Returns implement_check when the change allows the deployment to go ahead now.
    static func afterApprovalCheck(_ task: TaskView, _ change: ChangeSnapshot, rejectionComment: String?,
                                   now: Date, policy: Policy) -> Transition {
        let number = change.number
        if change.approval == .rejected {
            let comment = rejectionComment.map { ": \"\($0)\"" } ?? ""
            return .finish(.changeRejected, "Change \(number) was rejected\(comment)")
        }
        switch change.state {
        case .canceled:
            return .finish(.changeCanceled, "Change \(number) was canceled")
        case .review, .closed:
            return .finish(.changeClosed, "Change \(number) is in \(change.state.displayName); a deployment needs it in Implement. Use a new change.")
        default:
            break
        }
        if let end = change.plannedEnd, now >= end {
            return .finish(.changeWindowClosed, "The planned window of \(number) ended at \(GlideDateTime.format(end)) UTC")
        }
        if change.state == .implement, change.plannedStart.map({ now >= $0 }) ?? true {
            return Transition(next: .implementCheck, effects: [.freshChangeRead])
        }
        if let since = task.waitingSince, now >= since.addingTimeInterval(policy.approvalTimeout.timeInterval) {
            return .finish(.approvalTimeout, "Change \(number) was not in Implement within \(policy.approvalTimeout.humanReadable) (still \(change.state.displayName))")
        }
        return .stay(.awaitingApproval)
    }

    static func afterExit(_ task: TaskView, exitCode: Int32, abortedFor abort: Abort?) -> Transition {
        switch abort {
        case .changeLeftImplement(let state)?:
            return .finish(.changeLeftImplement, "Change \(task.changeNumber ?? "?") left Implement (now \(state.displayName)); the deployment was stopped")
        case .windowClosed?:
            return .finish(.changeWindowClosed, "The change window of \(task.changeNumber ?? "?") ended; the deployment was stopped")
        case .timeout?:
            return .finish(.deployTimeout, "The deploy command ran past the execution timeout and was stopped")
        case .cancelled?:
            return .finish(.cancelled, "Cancelled while deploying; the deployment was stopped")
        case .shutdownInterrupted?:
            return .finish(.interrupted, "The daemon stopped while the deploy command ran; it was stopped and will not be re-run")
        case nil:
            if exitCode == 0 {
                return .finish(task.changeControlled ? .succeeded : .notChangeControlled,
                               task.changeControlled ? "Deployed under change \(task.changeNumber ?? "?")" : "Deployed; the project or environment is not change controlled")
            }
            return .finish(.deployFailed, "The deploy command exited with status \(exitCode)")
        }
    }

    /// Cancellation: before the child runs it ends the task; while it runs it stops the child first.
    static func cancellation(_ task: TaskView, _ input: Input) -> Transition? {
        switch task.state {
        case .queued, .creatingChange:
            return task.changeNumber == nil ? Transition(next: .cancelled, outcome: .cancelled, reason: "Cancelled before a change was linked")
                : .finish(.cancelled, "Cancelled before the deployment started")
        case .awaitingApproval, .implementCheck:
            return .finish(.cancelled, "Cancelled before the deployment started")
        case .executing:
            if case .childExited(let code, let abort) = input { return afterExit(task, exitCode: code, abortedFor: abort) }
            return Transition(next: .executing, effects: [.stopDeployment(.cancelled)])
        default:
            return nil
        }
    }
}

extension Duration {
    var timeInterval: TimeInterval {
        let (s, atto) = components
        return TimeInterval(s) + TimeInterval(atto) / 1e18
    }

    /// `72h`, `90m`, `45s`: how people write timeouts.
    public var humanReadable: String {
        let s = components.seconds
        if s >= 3600, s % 3600 == 0 { return "\(s / 3600)h" }
        if s >= 60, s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}
