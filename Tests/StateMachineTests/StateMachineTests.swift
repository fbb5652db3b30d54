import Foundation
import ServiceNowModel
import Testing
import QueueContract
@testable import StateMachine

private let now = Date(timeIntervalSince1970: 1_800_000_000)

private func change(_ state: ChangeState, approval: ApprovalState = .approved, start: Date? = nil, end: Date? = nil) -> ChangeSnapshot {
    ChangeSnapshot(sysID: "abc", number: "CHG0030001", state: state, approval: approval, type: .normal, plannedStart: start, plannedEnd: end)
}

private func task(_ state: TaskState, controlled: Bool = true, waitingSince: Date? = now, cancel: Bool = false, outcome: Outcome? = nil) -> TaskView {
    TaskView(id: 7, state: state, changeControlled: controlled, changeNumber: state == .queued ? nil : "CHG0030001",
             waitingSince: waitingSince, cancelRequested: cancel, outcome: outcome)
}

@Suite struct QueuedTransitions {
    @Test func invalidRowFailsWithItsReason() {
        let t = StateMachine.decide(task(.queued), .invalid(reason: "release: is missing"), now: now)
        #expect(t == Transition(next: .failed, outcome: .invalidRequest, reason: "release: is missing"))
    }

    @Test func controlledRowGoesToCreatingChange() {
        let t = StateMachine.decide(task(.queued), .accepted(slotAvailable: false), now: now)
        #expect(t.next == .creatingChange && t.effects == [.resolveChange])
    }

    @Test func uncontrolledRowRunsStraightAwayWhenASlotIsFree() {
        #expect(StateMachine.decide(task(.queued, controlled: false), .accepted(slotAvailable: true), now: now)
            == Transition(next: .executing, effects: [.startDeployment]))
        #expect(StateMachine.decide(task(.queued, controlled: false), .accepted(slotAvailable: false), now: now).next == .queued)
    }
}

@Suite struct ApprovalTransitions {
    @Test(arguments: [ChangeState.new, .assess, .authorize, .scheduled])
    func waitsBeforeImplement(state: ChangeState) {
        let t = StateMachine.decide(task(.awaitingApproval), .changeStatus(change(state, approval: .requested), rejectionComment: nil), now: now)
        #expect(t == Transition(next: .awaitingApproval))
    }

    @Test func implementInsideTheWindowGoesToImplementCheck() {
        let c = change(.implement, start: now.addingTimeInterval(-60), end: now.addingTimeInterval(3600))
        #expect(StateMachine.decide(task(.awaitingApproval), .changeStatus(c, rejectionComment: nil), now: now)
            == Transition(next: .implementCheck, effects: [.freshChangeRead]))
    }

    @Test func implementBeforeThePlannedStartWaits() {
        let c = change(.implement, start: now.addingTimeInterval(60))
        #expect(StateMachine.decide(task(.awaitingApproval), .changeStatus(c, rejectionComment: nil), now: now).next == .awaitingApproval)
    }

    @Test func passedWindowFails() {
        let c = change(.scheduled, end: now.addingTimeInterval(-1))
        let t = StateMachine.decide(task(.awaitingApproval), .changeStatus(c, rejectionComment: nil), now: now)
        #expect(t.next == .completing && t.outcome == .changeWindowClosed)
        #expect(t.reason?.contains("ended") == true)
    }

    @Test func rejectionFailsWithTheApproversComment() {
        let t = StateMachine.decide(task(.awaitingApproval), .changeStatus(change(.canceled, approval: .rejected), rejectionComment: "Bob CAB: not during the freeze"), now: now)
        #expect(t.outcome == .changeRejected)
        #expect(t.reason == "Change CHG0030001 was rejected: \"Bob CAB: not during the freeze\"")
        #expect(t.effects == [.complete(outcome: .changeRejected)])
    }

    @Test func canceledFails() {
        #expect(StateMachine.decide(task(.awaitingApproval), .changeStatus(change(.canceled, approval: .requested), rejectionComment: nil), now: now).outcome == .changeCanceled)
    }

    @Test(arguments: [ChangeState.review, .closed])
    func reviewOrClosedFails(state: ChangeState) {
        let t = StateMachine.decide(task(.awaitingApproval), .changeStatus(change(state), rejectionComment: nil), now: now)
        #expect(t.outcome == .changeClosed)
    }

    @Test func timeoutFailsOnlyAfterThePolicyTimeout() {
        let policy = Policy(approvalTimeout: .seconds(3600))
        let waiting = change(.authorize, approval: .requested)
        let early = StateMachine.decide(task(.awaitingApproval, waitingSince: now.addingTimeInterval(-3599)), .changeStatus(waiting, rejectionComment: nil), now: now, policy: policy)
        #expect(early.next == .awaitingApproval)
        let late = StateMachine.decide(task(.awaitingApproval, waitingSince: now.addingTimeInterval(-3600)), .changeStatus(waiting, rejectionComment: nil), now: now, policy: policy)
        #expect(late.outcome == .approvalTimeout)
        #expect(late.reason?.contains("1h") == true)
    }

    @Test func resolvedChangeAlreadyInImplementSkipsWaiting() {
        let t = StateMachine.decide(task(.creatingChange), .changeResolved(change(.implement), .givenNumber), now: now)
        #expect(t.next == .implementCheck)
    }

    @Test func resolutionFailureFailsWithoutCompleting() {
        let t = StateMachine.decide(task(.creatingChange), .changeResolutionFailed(.changeNotFound, reason: "Change CHG9 was not found"), now: now)
        #expect(t == Transition(next: .failed, outcome: .changeNotFound, reason: "Change CHG9 was not found"))
    }
}

@Suite struct ImplementCheckAndExecution {
    @Test func freshReadStartsOnlyWithASlot() {
        let c = change(.implement)
        #expect(StateMachine.decide(task(.implementCheck), .freshStatus(c, slotAvailable: true), now: now)
            == Transition(next: .executing, effects: [.startDeployment]))
        #expect(StateMachine.decide(task(.implementCheck), .freshStatus(c, slotAvailable: false), now: now).next == .implementCheck)
    }

    @Test func freshReadOutOfImplementGoesBackToWaiting() {
        #expect(StateMachine.decide(task(.implementCheck), .freshStatus(change(.scheduled), slotAvailable: true), now: now).next == .awaitingApproval)
    }

    @Test func leavingImplementWhileRunningStopsTheChild() {
        let t = StateMachine.decide(task(.executing), .changeStatus(change(.review), rejectionComment: nil), now: now)
        #expect(t == Transition(next: .executing, effects: [.stopDeployment(.changeLeftImplement(.review))]))
    }

    @Test func windowEndWhileRunningStopsTheChild() {
        let t = StateMachine.decide(task(.executing), .changeStatus(change(.implement, end: now), rejectionComment: nil), now: now)
        #expect(t.effects == [.stopDeployment(.windowClosed)])
    }

    @Test(arguments: [
        (Abort?.none, Int32(0), Outcome.succeeded),
        (nil, 2, .deployFailed),
        (.changeLeftImplement(.review), 143, .changeLeftImplement),
        (.windowClosed, 143, .changeWindowClosed),
        (.timeout, 137, .deployTimeout),
        (.cancelled, 143, .cancelled),
        (.shutdownInterrupted, 143, .interrupted),
    ])
    func exitOutcomes(abort: Abort?, code: Int32, outcome: Outcome) {
        let t = StateMachine.decide(task(.executing), .childExited(exitCode: code, abortedFor: abort), now: now)
        #expect(t.next == .completing && t.outcome == outcome && t.effects == [.complete(outcome: outcome)])
    }

    @Test func uncontrolledSuccessIsNotChangeControlled() {
        let t = StateMachine.decide(task(.executing, controlled: false), .childExited(exitCode: 0, abortedFor: nil), now: now)
        #expect(t.outcome == .notChangeControlled)
    }

    @Test(arguments: [(Outcome.succeeded, TaskState.succeeded), (.notChangeControlled, .succeeded), (.deployFailed, .failed), (.cancelled, .cancelled)])
    func completingEndsInTheTerminalStateOfTheOutcome(outcome: Outcome, state: TaskState) {
        #expect(StateMachine.decide(task(.completing, outcome: outcome), .completed, now: now).next == state)
    }
}

@Suite struct Cancellation {
    @Test func beforeAChangeIsLinkedEndsAtOnce() {
        let t = StateMachine.decide(TaskView(id: 1, state: .queued, changeControlled: true, cancelRequested: true), .accepted(slotAvailable: true), now: now)
        #expect(t.next == .cancelled && t.outcome == .cancelled)
    }

    @Test func whileWaitingCompletesWithANote() {
        let t = StateMachine.decide(task(.awaitingApproval, cancel: true), .changeStatus(change(.implement), rejectionComment: nil), now: now)
        #expect(t.next == .completing && t.outcome == .cancelled)
    }

    @Test func whileRunningStopsTheChildThenEndsCancelled() {
        let t = StateMachine.decide(task(.executing, cancel: true), .completed, now: now)
        #expect(t.effects == [.stopDeployment(.cancelled)])
        let exit = StateMachine.decide(task(.executing, cancel: true), .childExited(exitCode: 143, abortedFor: .cancelled), now: now)
        #expect(exit.outcome == .cancelled)
    }

    @Test func terminalTasksNeverMove() {
        #expect(StateMachine.decide(task(.succeeded), .childExited(exitCode: 1, abortedFor: nil), now: now) == Transition(next: .succeeded))
    }
}
