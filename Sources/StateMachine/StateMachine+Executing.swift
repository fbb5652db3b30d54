import Foundation
import QueueContract
import ServiceNowModel

extension StateMachine {
    /// executing: the command is held by its guard until its pid is recorded, then runs watched.
    static func executing(_ task: TaskView, _ input: Input, now: Date, policy: Policy) -> Transition {
        switch input {
        case .childSpawned:
            // The pid is written with this decision; only then may the guard let the command run.
            if let abort = task.abort ?? stopReason(task, task.change, now: now, policy: policy) { return .stay(.executing, [.stopDeployment(abort)]) }
            return .stay(.executing, [.releaseChild])
        case .spawnFailed(let reason):
            return .finish(.configError, reason)
        case .childExited(let code, let timedOut, let released):
            return afterExit(task, exitCode: code, abortedFor: task.abort ?? (timedOut ? .timeout : nil), released: released)
        case .changeStatus(let change):
            guard task.abort == nil, let abort = stopReason(task, change, now: now, policy: policy) else { return .stay(.executing) }
            return .stay(.executing, [.stopDeployment(abort)])
        case .tick:
            guard task.abort == nil, let abort = stopReason(task, task.change, now: now, policy: policy) else { return .stay(.executing) }
            return .stay(.executing, [.stopDeployment(abort)])
        case .changeVanished(let reason):
            // Deleted, or read access lost: not proof the change left Implement. The window and timeout still bound it.
            return .stay(.executing, note: "\(reason); the deployment goes on within its window and timeout")
        case .drainTimedOut:
            return task.abort == nil ? .stay(.executing, [.stopDeployment(.shutdownInterrupted)]) : .stay(.executing)
        case .recovered:
            guard task.childRecorded else {
                return .finish(.interrupted, "The daemon restarted before the deploy command was released (no pid was recorded); it never ran and will not be run")
            }
            return .stay(.executing, [.stopLeftover])
        case .retryDue:
            return task.childRecorded ? .stay(.executing, [.stopLeftover]) : .stay(.executing)
        case .leftoverStopped(let finding):
            return afterRecovery(finding)
        default:
            return .stay(.executing)
        }
    }

    /// Why a run under this change must stop now, if it must: the change left Implement, its window ended,
    /// or a blackout began.
    static func stopReason(_ task: TaskView, _ change: ChangeSnapshot?, now: Date, policy: Policy) -> Abort? {
        guard task.changeControlled, let change else { return nil }
        if change.state != .implement { return .changeLeftImplement(change.state) }
        if let end = change.plannedEnd, now >= end { return .windowClosed }
        return blackoutStop(task, now: now, policy: policy)
    }

    static func afterRecovery(_ finding: LeftoverFinding) -> Transition {
        let restarted = "The daemon restarted while the deploy command ran"
        let never = "It will not be re-run."
        switch finding {
        case .alreadyGone:
            return .finish(.interrupted, "\(restarted); its process group was already gone. \(never)")
        case .stoppedByTerm:
            return .finish(.interrupted, "\(restarted); the leftover process group was stopped with SIGTERM. \(never)")
        case .killed:
            return .finish(.interrupted, "\(restarted); the leftover process group ignored SIGTERM and was killed with SIGKILL. \(never)")
        case .otherMachine(let boot):
            return .finish(.interrupted, """
                \(restarted), under another boot id (\(boot.prefix(8))…): a reboot of this machine, or another daemon host of a \
                shared queue, whose leader stops its own deploys before its lease runs out. Nothing here could be signalled. \(never)
                """)
        case .pidReused:
            return .finish(.interrupted, "\(restarted); its recorded pid now belongs to another process, so nothing was signalled and the command is gone. \(never)")
        case .stillAlive:
            return .stay(.executing, [.retry(after: .seconds(10))],
                         note: "the leftover process group is still alive after SIGKILL; its slot stays taken and it is signalled again")
        }
    }

    static func afterExit(_ task: TaskView, exitCode: Int32, abortedFor abort: Abort?, released: Bool) -> Transition {
        let change = task.changeNumber ?? "?"
        let stopped = released ? "the deployment was stopped" : "the deploy command was not started"
        switch abort {
        case .changeLeftImplement(let state)?:
            return .finish(.changeLeftImplement, "Change \(change) left Implement (now \(state.displayName)); \(stopped)")
        case .windowClosed?:
            return .finish(.changeWindowClosed, "The change window of \(change) ended; \(stopped)")
        case .blackout(let schedule)?:
            return .finish(.blackoutWindow, "Blackout \"\(schedule)\" began during the deployment under \(change); \(stopped) (stop_on_blackout)")
        case .timeout?:
            return .finish(.deployTimeout, "The deploy command ran past the execution timeout and was stopped")
        case .cancelled?:
            return .finish(.cancelled, released ? "Cancelled while deploying; the deployment was stopped" : "Cancelled before the deploy command started")
        case .shutdownInterrupted?:
            return .finish(.interrupted, released ? "The daemon stopped while the deploy command ran; it was stopped and will not be re-run"
                                                  : "The daemon stopped before the deploy command started; it will not be run")
        case nil:
            guard released else { return .finish(.interrupted, "The deploy command's guard ended before it was released; the command did not run") }
            if exitCode == 0 {
                return .finish(task.changeControlled ? .succeeded : .notChangeControlled,
                               task.changeControlled ? "Deployed under change \(change)" : "Deployed; the project or environment is not change controlled")
            }
            return .finish(.deployFailed, "The deploy command exited with status \(exitCode)")
        }
    }

    /// The approval rules shared by creating_change, awaiting_approval and implement_check.
    /// Returns implement_check (with a slot request) when the change lets the deployment go ahead now.
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
            return task.state == .implementCheck ? .stay(.implementCheck) : Transition(next: .implementCheck, effects: [.requestSlot])
        }
        if let since = task.waitingSince, now >= since.addingTimeInterval(policy.approvalTimeout.timeInterval) {
            return .finish(.approvalTimeout, "Change \(number) was not in Implement within \(policy.approvalTimeout.humanReadable) (still \(change.state.displayName))")
        }
        return .stay(.awaitingApproval)
    }

    /// When this task must be decided again even if nothing else happens (a `.tick`), if ever.
    public static func deadline(_ task: TaskView, policy: Policy) -> Date? {
        switch task.state {
        case .queued:
            return task.notBefore
        case .awaitingApproval:
            var times = [task.change?.plannedEnd, task.waitingSince?.addingTimeInterval(policy.approvalTimeout.timeInterval)]
            if task.change?.state == .implement { times.append(task.change?.plannedStart) }
            return times.compactMap { $0 }.min()
        case .implementCheck:
            var times = [task.change?.plannedEnd]
            if isBlocked(task, policy: policy) { times.append(task.waitingSince?.addingTimeInterval(policy.approvalTimeout.timeInterval)) }
            return times.compactMap { $0 }.min()
        case .executing:
            guard task.changeControlled, task.abort == nil else { return nil }
            return [task.change?.plannedEnd, nextBlackoutStart(task, policy: policy)].compactMap { $0 }.min()
        case .creatingChange, .completing, .succeeded, .failed, .cancelled:
            return nil
        }
    }
}
