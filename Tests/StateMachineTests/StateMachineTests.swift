import Foundation
import QueueContract
import ServiceNowModel
import Testing
@testable import StateMachine

@Suite struct QueuedTransitions {
    @Test func uncontrolledRowAsksForASlotThenRuns() {
        #expect(decide(task(.queued, controlled: false), .accepted) == .stay(.queued, [.requestSlot]))
        #expect(decide(task(.queued, controlled: false), .slotGranted) == Transition(next: .executing, effects: [.startDeployment]))
    }

    @Test func notBeforeHoldsTheRowUntilItsDeadline() {
        let later = now.addingTimeInterval(600)
        #expect(decide(task(.queued, notBefore: later), .accepted) == .stay(.queued))
        #expect(StateMachine.deadline(task(.queued, notBefore: later), policy: Policy()) == later)
        #expect(decide(task(.queued, notBefore: later), .tick, at: later).next == .creatingChange)
    }

    @Test func cancelledRowEndsEvenBeforeItsNotBefore() {
        let t = decide(task(.queued, cancel: true, notBefore: now.addingTimeInterval(600)), .accepted)
        #expect(t == Transition(next: .cancelled, outcome: .cancelled, reason: "Cancelled while queued"))
    }
}

@Suite struct ApprovalTransitions {
    @Test(arguments: [ChangeState.new, .assess, .authorize, .scheduled])
    func waitsBeforeImplement(state: ChangeState) {
        #expect(decide(task(.awaitingApproval), .changeStatus(change(state, approval: .requested))) == .stay(.awaitingApproval))
    }

    @Test func implementBeforeThePlannedStartWaitsUntilTheStartDeadline() {
        let start = now.addingTimeInterval(60)
        let c = change(.implement, start: start, end: now.addingTimeInterval(3600))
        #expect(decide(task(.awaitingApproval), .changeStatus(c)) == .stay(.awaitingApproval))
        #expect(StateMachine.deadline(task(.awaitingApproval, change: c), policy: Policy()) == start)
        #expect(decide(task(.awaitingApproval, change: c), .tick, at: start) == Transition(next: .implementCheck, effects: [.requestSlot]))
    }

    @Test func passedWindowFailsAtTheWindowDeadline() {
        let end = now.addingTimeInterval(30)
        let c = change(.scheduled, end: end)
        #expect(StateMachine.deadline(task(.awaitingApproval, change: c), policy: Policy()) == end)
        let t = decide(task(.awaitingApproval, change: c), .tick, at: end)
        #expect(t.next == .completing && t.outcome == .changeWindowClosed)
        #expect(t.reason?.contains("ended") == true)
    }

    @Test func rejectionFirstFetchesTheCommentThenFails() {
        #expect(decide(task(.awaitingApproval), .changeStatus(rejected)) == .stay(.awaitingApproval, [.fetchRejectionComment]))
        let t = decide(task(.awaitingApproval), .rejectionDetails(rejected, comment: "Bob CAB: not during the freeze"))
        #expect(t == .finish(.changeRejected, "Change CHG0030001 was rejected: \"Bob CAB: not during the freeze\""))
    }

    @Test func canceledFails() {
        #expect(decide(task(.awaitingApproval), .changeStatus(change(.canceled, approval: .requested))).outcome == .changeCanceled)
    }

    @Test(arguments: [ChangeState.review, .closed])
    func reviewOrClosedFails(state: ChangeState) {
        #expect(decide(task(.awaitingApproval), .changeStatus(change(state))).outcome == .changeClosed)
    }

    @Test func timeoutFailsOnlyAtThePolicyTimeout() {
        let policy = Policy(approvalTimeout: .seconds(3600))
        let since = now.addingTimeInterval(-3599)
        let waiting = change(.authorize, approval: .requested)
        #expect(StateMachine.deadline(task(.awaitingApproval, change: waiting, waitingSince: since), policy: policy) == since.addingTimeInterval(3600))
        #expect(decide(task(.awaitingApproval, change: waiting, waitingSince: since), .tick, policy: policy).next == .awaitingApproval)
        let late = decide(task(.awaitingApproval, change: waiting, waitingSince: since), .tick, at: now.addingTimeInterval(1), policy: policy)
        #expect(late.outcome == .approvalTimeout)
        #expect(late.reason?.contains("1h") == true)
    }

    @Test func resolutionFailureAfterALinkCompletes() {
        let t = decide(task(.creatingChange, change: ready), .changeResolutionFailed(.ambiguousChange, reason: "several"))
        #expect(t == .finish(.ambiguousChange, "several"))
    }
}

@Suite struct ImplementCheckTransitions {
    @Test func freshReadOutOfImplementGoesBackToWaiting() {
        #expect(decide(task(.implementCheck), .freshStatus(scheduled)).next == .awaitingApproval)
    }

    @Test func aChangeThatLeavesImplementWhileWaitingForASlotGoesBackToWaiting() {
        #expect(decide(task(.implementCheck), .changeStatus(scheduled)) == .stay(.awaitingApproval))
        #expect(decide(task(.implementCheck), .changeStatus(rejected)) == .stay(.implementCheck, [.fetchRejectionComment]))
    }

    @Test func windowEndWhileWaitingForASlotFails() {
        let end = ready.plannedEnd!
        #expect(StateMachine.deadline(task(.implementCheck), policy: Policy()) == end)
        #expect(decide(task(.implementCheck), .tick, at: end).outcome == .changeWindowClosed)
    }
}

@Suite struct ExecutionTransitions {
    @Test func theGuardIsReleasedOnlyWhenNothingStandsAgainstTheRun() {
        #expect(decide(task(.executing), .childSpawned(pid: 9)) == .stay(.executing, [.releaseChild]))
        #expect(decide(task(.executing, abort: .cancelled), .childSpawned(pid: 9)) == .stay(.executing, [.stopDeployment(.cancelled)]))
        let ended = change(.implement, end: now)
        #expect(decide(task(.executing, change: ended), .childSpawned(pid: 9)) == .stay(.executing, [.stopDeployment(.windowClosed)]))
        #expect(decide(task(.executing, change: change(.review)), .childSpawned(pid: 9)) == .stay(.executing, [.stopDeployment(.changeLeftImplement(.review))]))
        #expect(decide(task(.executing, controlled: false, change: nil), .childSpawned(pid: 9)) == .stay(.executing, [.releaseChild]))
    }

    @Test func leavingImplementWhileRunningStopsTheChildOnce() {
        #expect(decide(task(.executing), .changeStatus(change(.review))) == .stay(.executing, [.stopDeployment(.changeLeftImplement(.review))]))
        #expect(decide(task(.executing, abort: .cancelled), .changeStatus(change(.review))) == .stay(.executing))
    }

    @Test func windowEndIsADeadlineWhileRunning() {
        let end = ready.plannedEnd!
        #expect(StateMachine.deadline(task(.executing), policy: Policy()) == end)
        #expect(StateMachine.deadline(task(.executing, abort: .windowClosed), policy: Policy()) == nil)
        #expect(StateMachine.deadline(task(.executing, controlled: false), policy: Policy()) == nil)
        #expect(decide(task(.executing), .tick, at: end) == .stay(.executing, [.stopDeployment(.windowClosed)]))
    }

    @Test(arguments: [
        (Abort?.none, Int32(0), false, Outcome.succeeded),
        (nil, 2, false, .deployFailed),
        (nil, 137, true, .deployTimeout),
        (.changeLeftImplement(.review), 143, false, .changeLeftImplement),
        (.windowClosed, 143, false, .changeWindowClosed),
        (.cancelled, 143, false, .cancelled),
        (.shutdownInterrupted, 143, false, .interrupted),
    ])
    func exitOutcomes(abort: Abort?, code: Int32, timedOut: Bool, outcome: Outcome) {
        let t = decide(task(.executing, abort: abort), .childExited(exitCode: code, timedOut: timedOut, released: true))
        #expect(t.next == .completing && t.outcome == outcome && t.effects == [.complete(outcome: outcome)])
    }

    @Test func aGuardStoppedBeforeReleaseSaysTheCommandDidNotStart() {
        let t = decide(task(.executing, abort: .cancelled), .childExited(exitCode: 143, timedOut: false, released: false))
        #expect(t == .finish(.cancelled, "Cancelled before the deploy command started"))
    }

    @Test func uncontrolledSuccessIsNotChangeControlled() {
        #expect(decide(task(.executing, controlled: false), .childExited(exitCode: 0, timedOut: false, released: true)).outcome == .notChangeControlled)
    }

    @Test(arguments: [(Outcome.succeeded, TaskState.succeeded), (.notChangeControlled, .succeeded), (.deployFailed, .failed),
                      (.configError, .failed), (.cancelled, .cancelled)])
    func completingEndsInTheTerminalStateOfTheOutcome(outcome: Outcome, state: TaskState) {
        #expect(decide(task(.completing, outcome: outcome), .completed).next == state)
    }
}

@Suite struct RecoveryTransitions {
    @Test func aRecordedRunIsStoppedBeforeItsSlotIsFree() {
        #expect(decide(task(.executing, recorded: true), .recovered) == .stay(.executing, [.stopLeftover]))
        #expect(decide(task(.executing, recorded: true), .retryDue) == .stay(.executing, [.stopLeftover]))
    }

    @Test(arguments: [(LeftoverFinding.alreadyGone, "was already gone"), (.stoppedByTerm, "stopped with SIGTERM"),
                      (.killed, "killed with SIGKILL"), (.pidReused, "nothing was signalled")])
    func theReasonSaysWhatWasVerified(finding: LeftoverFinding, words: String) {
        let t = decide(task(.executing, recorded: true), .leftoverStopped(finding))
        #expect(t.next == .completing && t.outcome == .interrupted)
        #expect(t.reason?.contains(words) == true)
    }

    @Test func aLeftoverThatSurvivesKillKeepsItsSlotAndIsTriedAgain() {
        let t = decide(task(.executing, recorded: true), .leftoverStopped(.stillAlive))
        #expect(t.next == .executing && t.effects == [.retry(after: .seconds(10))])
    }

    @Test func anInvalidRowThatRanIsStillStoppedFirst() {
        #expect(decide(task(.executing, recorded: true), .invalid(reason: "unknown project")) == .stay(.executing))
    }
}

@Suite struct Cancellation {
    @Test func whileWaitingCompletesWithANote() {
        #expect(decide(task(.awaitingApproval), .cancelRequested) == .finish(.cancelled, "Cancelled before the deployment started"))
    }

    @Test func whileRunningStopsTheChildThenEndsCancelled() {
        #expect(decide(task(.executing), .cancelRequested) == .stay(.executing, [.stopDeployment(.cancelled)]))
        #expect(decide(task(.executing, abort: .cancelled), .cancelRequested) == .stay(.executing))
        let exit = decide(task(.executing, cancel: true, abort: .cancelled), .childExited(exitCode: 143, timedOut: false, released: true))
        #expect(exit.outcome == .cancelled)
    }
}
