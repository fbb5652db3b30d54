import Foundation
import QueueContract
import ServiceNowModel

/// The change-gated state machine: a pure function from (task, input, clock) to the next state and effects.
/// It is the only place a task's state changes. It does no I/O; the daemon performs the effects and feeds
/// their results back as inputs. An input that does not apply to the state changes nothing.
public enum StateMachine {
    public static func decide(_ task: TaskView, _ input: Input, now: Date, policy: Policy = Policy()) -> Transition {
        if task.state.isTerminal { return .stay(task.state) }
        if input == .cancelRequested { return cancellation(task) }
        // A row that no longer fits the configuration ends at once; a running one is stopped by recovery first.
        if case .invalid(let reason) = input, task.state != .executing { return .fail(.invalidRequest, reason) }
        switch task.state {
        case .queued: return queued(task, input, now: now)
        case .creatingChange: return creatingChange(task, input, now: now, policy: policy)
        case .awaitingApproval: return awaitingApproval(task, input, now: now, policy: policy)
        case .implementCheck: return implementCheck(task, input, now: now, policy: policy)
        case .executing: return executing(task, input, now: now, policy: policy)
        case .completing: return completing(task, input)
        case .succeeded, .failed, .cancelled: return .stay(task.state)
        }
    }

    static func queued(_ task: TaskView, _ input: Input, now: Date) -> Transition {
        switch input {
        case .accepted, .tick:
            if task.cancelRequested { return .fail(.cancelled, "Cancelled while queued") }
            if let at = task.notBefore, at > now { return .stay(.queued) }  // its deadline brings it back
            if task.changeControlled { return Transition(next: .creatingChange, effects: [.resolveChange]) }
            return .stay(.queued, [.requestSlot])
        case .slotGranted:
            return Transition(next: .executing, effects: [.startDeployment])
        default:
            return .stay(.queued)
        }
    }

    static func creatingChange(_ task: TaskView, _ input: Input, now: Date, policy: Policy) -> Transition {
        switch input {
        case .changeResolved(let change, _):
            return afterApprovalCheck(task, change, rejectionComment: nil, now: now, policy: policy)
        case .changeResolutionFailed(let outcome, let reason):
            return task.changeNumber == nil ? .fail(outcome, reason) : .finish(outcome, reason)
        case .serviceNowFailed(let reason, transient: true):
            return .stay(.creatingChange, [.retry(after: policy.retryDelay)], note: "ServiceNow is not answering well, will retry: \(reason)")
        case .serviceNowFailed(let reason, transient: false):
            return .fail(.servicenowError, reason)
        case .retryDue, .recovered:
            // After a restart the create may have happened: the resolver looks for our correlation id first.
            return .stay(.creatingChange, [.resolveChange])
        default:
            return .stay(.creatingChange)
        }
    }

    static func awaitingApproval(_ task: TaskView, _ input: Input, now: Date, policy: Policy) -> Transition {
        switch input {
        case .changeStatus(let change):
            if change.approval == .rejected { return .stay(.awaitingApproval, [.fetchRejectionComment]) }
            return afterApprovalCheck(task, change, rejectionComment: nil, now: now, policy: policy)
        case .rejectionDetails(let change, let comment):
            return afterApprovalCheck(task, change, rejectionComment: comment, now: now, policy: policy)
        case .tick:
            // The last copy is re-judged against the clock: planned start reached, window passed, timeout.
            guard let change = task.change else { return .stay(.awaitingApproval) }
            return afterApprovalCheck(task, change, rejectionComment: nil, now: now, policy: policy)
        case .changeVanished(let reason), .serviceNowFailed(let reason, transient: false):
            return .finish(.servicenowError, reason)
        default:
            return .stay(.awaitingApproval)  // transient failures: the next poll tries again
        }
    }

    /// implement_check: waits for a slot, then reads the change once more before the deploy starts.
    static func implementCheck(_ task: TaskView, _ input: Input, now: Date, policy: Policy) -> Transition {
        switch input {
        case .slotGranted:
            return .stay(.implementCheck, [.freshChangeRead])
        case .recovered:
            return .stay(.implementCheck, [.requestSlot])
        case .freshStatus(let change):
            let t = afterApprovalCheck(task, change, rejectionComment: nil, now: now, policy: policy)
            return t.next == .implementCheck ? afterFreshGo(task, now: now, policy: policy) : t
        case .conflictReport(let report):
            return conflictReported(task, report, now: now, policy: policy)
        case .blackoutSpans(let spans):
            var read = task
            read.blackouts = spans
            return blackoutsRead(read, now: now, policy: policy)
        case .changeStatus(let change), .rejectionDetails(let change, _):
            // Watched while it waits for a slot: anything but "still fine" takes it out of implement_check.
            if change.approval == .rejected, case .changeStatus = input { return .stay(.implementCheck, [.fetchRejectionComment]) }
            var comment: String?
            if case .rejectionDetails(_, let c) = input { comment = c }
            let t = afterApprovalCheck(task, change, rejectionComment: comment, now: now, policy: policy)
            return t.next == .implementCheck ? .stay(.implementCheck) : t
        case .tick:
            guard let change = task.change else { return .stay(.implementCheck) }
            let t = afterApprovalCheck(task, change, rejectionComment: nil, now: now, policy: policy)
            if t.next == .implementCheck, isBlocked(task, policy: policy), blockTimedOut(task, now: now, policy: policy) {
                return stillConflicting(task, policy: policy)
            }
            return t.next == .implementCheck ? .stay(.implementCheck) : t
        case .serviceNowFailed(let reason, transient: true):
            return .stay(.implementCheck, [.retry(after: policy.retryDelay)], note: "the fresh read failed, will retry: \(reason)")
        case .retryDue:
            return implementCheckRetry(task)
        case .changeVanished(let reason), .serviceNowFailed(let reason, transient: false):
            return .finish(.servicenowError, reason)
        default:
            return .stay(.implementCheck)
        }
    }

    static func completing(_ task: TaskView, _ input: Input) -> Transition {
        switch input {
        case .completed:
            let outcome = task.outcome ?? .interrupted
            if outcome.isSuccess { return Transition(next: .succeeded, outcome: outcome) }
            return Transition(next: outcome == .cancelled ? .cancelled : .failed, outcome: outcome)
        case .recovered, .retryDue:
            return .stay(.completing, [.complete(outcome: task.outcome ?? .interrupted)])
        default:
            return .stay(.completing)
        }
    }

    /// Cancellation: before the child runs it ends the task; while it runs it stops the child first.
    static func cancellation(_ task: TaskView) -> Transition {
        switch task.state {
        case .queued:
            return .fail(.cancelled, "Cancelled while queued")
        case .creatingChange where task.changeNumber == nil:
            return .fail(.cancelled, "Cancelled before a change was linked")
        case .creatingChange, .awaitingApproval, .implementCheck:
            return .finish(.cancelled, "Cancelled before the deployment started")
        case .executing:
            return task.abort == nil ? .stay(.executing, [.stopDeployment(.cancelled)]) : .stay(.executing)
        case .completing, .succeeded, .failed, .cancelled:
            return .stay(task.state)
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
