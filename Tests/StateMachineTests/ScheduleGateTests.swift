import Foundation
import QueueContract
import ServiceNowModel
import Testing
@testable import StateMachine

@Suite struct ScheduleGateTransitions {
    let conflict = ConflictReport(status: .conflict, conflicts: [freeze])
    let clear = ConflictReport(status: .noConflict)

    @Test func offStartsRightAfterTheFreshRead() {
        #expect(decide(task(.implementCheck), .freshStatus(ready)) == Transition(next: .executing, effects: [.startDeployment]))
    }

    @Test func blockWaitsWhileAConflictIsReportedThenStartsOnceCleared() {
        let held = decide(task(.implementCheck), .conflictReport(conflict), policy: block)
        #expect(held.next == .implementCheck && held.effects == [.retry(after: .seconds(60))])
        // The re-check starts over with a fresh read, which runs the check again.
        var v = task(.implementCheck)
        v.conflict = conflict
        #expect(decide(v, .retryDue, policy: block) == .stay(.implementCheck, [.freshChangeRead]))
        let go = decide(task(.implementCheck), .conflictReport(clear), policy: block)
        #expect(go == .stay(.implementCheck, [.readBlackouts], note: "conflict check of CHG0030001: no conflict"))
        var read = task(.implementCheck)
        read.blackouts = []
        #expect(decide(read, .blackoutSpans([]), policy: block) == Transition(next: .executing, effects: [.startDeployment]))
    }

    @Test func blockIsBoundedByTheApprovalTimeout() {
        let policy = Policy(approvalTimeout: .seconds(3600), conflictCheck: .block)
        var v = task(.implementCheck, waitingSince: now.addingTimeInterval(-3000))
        v.conflict = conflict
        v.conflictVerdict = conflict
        let deadline = StateMachine.deadline(v, policy: policy)
        #expect(deadline == now.addingTimeInterval(600))
        let t = decide(v, .tick, at: deadline!, policy: policy)
        #expect(t.next == .completing && t.outcome == .changeConflict)
        #expect(t.reason?.contains("Year-end freeze") == true)
        #expect(decide(v, .conflictReport(conflict), at: deadline!, policy: policy).outcome == .changeConflict)
    }

    /// The timeout can fall while a re-check runs (its report reads "Conflict" with no list yet): the hold stands
    /// and the reason names what the last finished check found, not "a conflict".
    @Test func aReCheckStillRunningAtTheTimeoutEndsWithTheLastFinishedConflicts() throws {
        let policy = Policy(approvalTimeout: .seconds(3600), conflictCheck: .block)
        let rerun = ConflictReport(status: .conflict, inProgress: true)
        var v = task(.implementCheck, waitingSince: now.addingTimeInterval(-3000))
        v.conflict = rerun
        v.conflictVerdict = conflict
        let deadline = try #require(StateMachine.deadline(v, policy: policy))
        #expect(deadline == now.addingTimeInterval(600))
        for input in [Input.tick, .conflictReport(rerun)] {
            let t = decide(v, input, at: deadline, policy: policy)
            #expect(t.next == .completing && t.outcome == .changeConflict)
            #expect(t.reason?.contains("a blackout (Year-end freeze)") == true, "\(input): \(t.reason ?? "")")
        }
        // Before the timeout a running re-check is read again; a clear first check holds nothing.
        #expect(decide(v, .conflictReport(rerun), policy: policy).effects == [.retry(after: .seconds(3))])
        v.conflictVerdict = clear
        #expect(StateMachine.deadline(v, policy: policy) != deadline)
    }

    @Test func warnStartsAndNamesTheConflict() {
        let t = decide(task(.implementCheck), .conflictReport(conflict), policy: Policy(conflictCheck: .warn, stopOnBlackout: false))
        #expect(t.next == .executing && t.effects == [.startDeployment])
        #expect(t.note?.contains("Year-end freeze") == true && t.note?.contains("warn") == true)
    }

    @Test func aRunningCheckIsReadAgainShortly() {
        let running = ConflictReport(status: .notRun, inProgress: true)
        #expect(decide(task(.implementCheck), .conflictReport(running), policy: block).effects == [.retry(after: .seconds(3))])
        var v = task(.implementCheck)
        v.conflict = running
        #expect(decide(v, .retryDue, policy: block) == .stay(.implementCheck, [.readConflictReport]))
    }

    @Test func aBlackoutInForceHoldsABlockedStartUntilItEnds() {
        var v = task(.implementCheck)
        v.blackouts = [BlackoutSpan(schedule: "Patch night", start: now.addingTimeInterval(-60), end: now.addingTimeInterval(600))]
        let t = decide(v, .conflictReport(clear), policy: block)
        #expect(t.next == .implementCheck && t.effects == [.retry(after: .seconds(600))])
    }

    @Test func aBlackoutThatBeginsDuringTheRunStopsIt() {
        let start = now.addingTimeInterval(300)
        var v = task(.executing, recorded: true)
        v.startedAt = now.addingTimeInterval(-60)
        v.blackouts = [BlackoutSpan(schedule: "Patch night", start: start, end: start.addingTimeInterval(3600))]
        #expect(StateMachine.deadline(v, policy: block) == start)
        #expect(decide(v, .tick, at: start.addingTimeInterval(-1), policy: block) == .stay(.executing))
        #expect(decide(v, .tick, at: start, policy: block) == .stay(.executing, [.stopDeployment(.blackout(schedule: "Patch night"))]))
        var stopped = v
        stopped.abort = .blackout(schedule: "Patch night")
        let end = decide(stopped, .childExited(exitCode: 143, timedOut: false, released: true), policy: block)
        #expect(end.outcome == .blackoutWindow && end.reason?.contains("Patch night") == true)
        // stop_on_blackout = false: the run goes on.
        #expect(decide(v, .tick, at: start, policy: Policy(conflictCheck: .block, stopOnBlackout: false)) == .stay(.executing))
    }

    @Test func aBlackoutInForceAtAWarnedStartDoesNotStopTheRun() {
        var v = task(.executing, recorded: true)
        v.startedAt = now
        v.blackouts = [BlackoutSpan(schedule: "Patch night", start: now.addingTimeInterval(-60), end: now.addingTimeInterval(600))]
        #expect(decide(v, .tick, at: now.addingTimeInterval(1), policy: warn) == .stay(.executing))
    }

    @Test func describesEachKindOfConflict() {
        let text = StateMachine.describe([
            freeze,
            ChangeConflict(kind: .notInMaintenanceWindow, type: "not_in_maintenance_window", description: "", configurationItem: "web01", schedule: "Sunday"),
            ChangeConflict(kind: .ciAlreadyScheduled, type: "ci_already_scheduled", description: "", configurationItem: "db01", otherChange: "CHG0031234"),
        ])
        #expect(text == "a blackout (Year-end freeze), CI web01 outside its maintenance window (Sunday), CI db01 already scheduled by CHG0031234")
    }
}
