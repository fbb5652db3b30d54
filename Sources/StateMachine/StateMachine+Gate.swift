import Foundation
import QueueContract
import ServiceNowModel

/// The schedule-aware gate (docs/schedule-gate.md): in implement_check, after the fresh read, ServiceNow's
/// conflict check and the change's blackout spans decide whether the deploy starts now.
extension StateMachine {
    /// The fresh read said "go": with the gate on, the conflict check runs first.
    static func afterFreshGo(_ task: TaskView, now: Date, policy: Policy) -> Transition {
        guard task.changeControlled, policy.conflictCheck != .off else { return Transition(next: .executing, effects: [.startDeployment]) }
        return .stay(.implementCheck, [.runConflictCheck], note: "running the conflict check of \(task.changeNumber ?? "the change")")
    }

    static func conflictReported(_ task: TaskView, _ report: ConflictReport, now: Date, policy: Policy) -> Transition {
        guard task.changeControlled, policy.conflictCheck != .off else { return .stay(.implementCheck) }
        let number = task.changeNumber ?? "?"
        let timedOut = blockTimedOut(task, now: now, policy: policy)
        if !report.isFinished {
            if timedOut, isBlocked(task, policy: policy) { return stillConflicting(task, policy: policy) }
            if timedOut {
                let why = "The conflict check of \(number) did not finish within \(policy.approvalTimeout.humanReadable)"
                return policy.conflictCheck == .block ? .finish(.changeConflict, why) : proceed(task, now: now, policy: policy, note: "\(why); starting anyway (conflict_check = warn)")
            }
            return .stay(.implementCheck, [.retry(after: policy.retryDelay)], note: "the conflict check of \(number) is still running; reading it again shortly")
        }
        guard report.status == .conflict else {
            return proceed(task, now: now, policy: policy, note: "conflict check of \(number): no conflict")
        }
        let listed = describe(report.conflicts)
        if policy.conflictCheck == .warn {
            return proceed(task, now: now, policy: policy, note: "conflict check of \(number) reports \(listed); starting anyway (conflict_check = warn)")
        }
        if timedOut {
            var finished = task
            finished.conflictVerdict = report
            return stillConflicting(finished, policy: policy)
        }
        return .stay(.implementCheck, [.retry(after: policy.conflictRecheck)],
                     note: "held: the conflict check of \(number) reports \(listed); checking again in \(policy.conflictRecheck.humanReadable)")
    }

    static func blackoutsRead(_ task: TaskView, now: Date, policy: Policy) -> Transition {
        guard task.changeControlled, policy.conflictCheck != .off else { return .stay(.implementCheck) }
        return proceed(task, now: now, policy: policy, note: nil)
    }

    /// The conflicts let the deployment go: the blackout spans are read once, then a blackout in force holds it
    /// (block) until its end, else the deploy starts.
    static func proceed(_ task: TaskView, now: Date, policy: Policy, note: String?) -> Transition {
        guard policy.stopOnBlackout else { return Transition(next: .executing, effects: [.startDeployment], note: note) }
        guard let spans = task.blackouts else { return .stay(.implementCheck, [.readBlackouts], note: note) }
        if policy.conflictCheck == .block, let span = activeSpan(spans, at: now) {
            if blockTimedOut(task, now: now, policy: policy) {
                return .finish(.changeConflict, "Blackout \"\(span.schedule)\" still held \(task.changeNumber ?? "the change") after \(policy.approvalTimeout.humanReadable); the deployment did not start")
            }
            let wait = Duration.milliseconds(Int64(max(1, span.end.timeIntervalSince(now)) * 1000))
            return .stay(.implementCheck, [.retry(after: wait)],
                         note: [note, "held: blackout \"\(span.schedule)\" until \(GlideDateTime.format(span.end)) UTC"].compactMap { $0 }.joined(separator: "; "))
        }
        return Transition(next: .executing, effects: [.startDeployment], note: note)
    }

    /// What retryDue means in implement_check: a running check is read again; anything else starts over
    /// with a fresh read of the change (which runs the check again).
    static func implementCheckRetry(_ task: TaskView) -> Transition {
        if let c = task.conflict, !c.isFinished { return .stay(.implementCheck, [.readConflictReport]) }
        return .stay(.implementCheck, [.freshChangeRead])
    }

    /// A blocked deployment waits no longer than the approval timeout, on the same clock (waiting_since).
    static func blockTimedOut(_ task: TaskView, now: Date, policy: Policy) -> Bool {
        guard let since = task.waitingSince else { return false }
        return now >= since.addingTimeInterval(policy.approvalTimeout.timeInterval)
    }

    /// Held by the last finished check: a re-check still running does not release the hold.
    static func isBlocked(_ task: TaskView, policy: Policy) -> Bool {
        policy.conflictCheck == .block && task.conflictVerdict?.status == .conflict
    }

    /// The approval timeout ended a block: the reason names the conflicts of the last finished check.
    static func stillConflicting(_ task: TaskView, policy: Policy) -> Transition {
        .finish(.changeConflict, "ServiceNow still reports \(describe(task.conflictVerdict?.conflicts ?? [])) for \(task.changeNumber ?? "the change") after \(policy.approvalTimeout.humanReadable); the deployment did not start. Move the change's planned window or clear the conflict, then queue it again")
    }

    static func activeSpan(_ spans: [BlackoutSpan], at now: Date) -> BlackoutSpan? {
        spans.filter { $0.start <= now && now < $0.end }.min { $0.start < $1.start }
    }

    /// A blackout that began after the run started, in force now: it stops the run (stop_on_blackout).
    static func blackoutStop(_ task: TaskView, now: Date, policy: Policy) -> Abort? {
        guard policy.conflictCheck != .off, policy.stopOnBlackout, let spans = task.blackouts else { return nil }
        let after = task.startedAt ?? .distantPast
        return spans.first { $0.start > after && $0.start <= now && now < $0.end }.map { .blackout(schedule: $0.schedule) }
    }

    /// The next blackout start a run must stop at, if any.
    static func nextBlackoutStart(_ task: TaskView, policy: Policy) -> Date? {
        guard policy.conflictCheck != .off, policy.stopOnBlackout, let spans = task.blackouts else { return nil }
        let after = task.startedAt ?? .distantPast
        return spans.filter { $0.start > after }.map(\.start).min()
    }

    /// "a blackout (Change freeze), CI web01 outside its maintenance window": for notes, logs and reasons.
    public static func describe(_ conflicts: [ChangeConflict]) -> String {
        guard !conflicts.isEmpty else { return "a conflict" }
        return conflicts.map { c in
            switch c.kind {
            case .blackout: "a blackout" + (c.schedule.map { " (\($0))" } ?? "")
            case .notInMaintenanceWindow: (c.configurationItem.map { "CI \($0)" } ?? "a CI") + " outside its maintenance window" + (c.schedule.map { " (\($0))" } ?? "")
            case .ciAlreadyScheduled: (c.configurationItem.map { "CI \($0)" } ?? "a CI") + " already scheduled" + (c.otherChange.map { " by \($0)" } ?? "")
            case .other: "\(c.type): \(c.description)"
            }
        }.joined(separator: ", ")
    }
}
