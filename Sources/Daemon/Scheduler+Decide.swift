import Foundation
import Logging
import QueueContract
import QueueStore
import StateMachine
import Systemd

extension Scheduler {
    /// Decides `input` for `task` with the state machine and records the result in the batch. Every state
    /// change of every task goes through here. `record` adds what the input itself carries (a change link,
    /// a pid, audit records) and may look at the decision.
    func feed(_ task: ActiveTask, _ input: Input, _ batch: inout Batch, now: Date,
              events: [String] = [], record: (Transition) -> TaskChange = { _ in TaskChange() }) {
        let t = StateMachine.decide(task.view, input, now: now, policy: policy(task.project))
        var next = task
        var change = record(t)
        change.events = events + change.events
        if let note = t.note { change.events.append(note) }
        let moved = t.next != task.state
        next.state = t.next
        if let o = t.outcome { next.outcome = o; change.outcome = o }
        if let r = t.reason { next.reason = r; change.reason = r }
        if moved {
            change.state = t.next
            change.events.append("state \(task.state.rawValue) → \(t.next.rawValue)" + (t.reason.map { ": \($0)" } ?? ""))
            if t.next == .awaitingApproval || t.next == .implementCheck, next.waitingSince == nil {
                next.waitingSince = now
                change.waitingSince = now
            }
            if t.next.isTerminal {
                change.finishedAt = now
                change.audit.append(Audit.finished(t.next, outcome: next.outcome, reason: next.reason))
            }
            let level: Logger.Level = t.next == .failed ? .warning : .info
            batch.log(level, "Task \(task.id) \(task.state.rawValue) → \(t.next.rawValue)" + (t.reason.map { ": \($0)" } ?? ""), next, .taskStateChanged)
        }
        var completeNow = false
        for effect in t.effects {
            if case .complete = effect, !needsServiceNowToComplete(next) {
                completeNow = true  // nothing to tell ServiceNow: the terminal state goes into this step's write
                continue
            }
            guard case .stopDeployment(let abort) = effect else {
                batch.effects.append((task.id, effect))
                continue
            }
            // Stopping is the safety action: it happens now, not after the write. A guard not yet released
            // never runs the command; a running one gets TERM, then KILL after the grace.
            if next.abort == nil {
                next.abort = abort
                change.events.append("stopping the deploy command: \(abort)")
                batch.log(.warning, "Task \(task.id): stopping the deployment (\(abort))", next, .deploymentAborted)
            }
            next.release?.open(false)
            next.stop?.fire()
        }
        batch.record(next, change)
        if completeNow { feed(next, .completed, &batch, now: now) }
    }

    /// Completing a deployment talks to ServiceNow only when it ran under a change of a configured connection.
    func needsServiceNowToComplete(_ task: ActiveTask) -> Bool {
        task.change != nil && task.controlled && task.connection.flatMap({ services[$0] }) != nil
    }
}
