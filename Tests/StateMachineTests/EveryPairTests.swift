import Foundation
import QueueContract
import ServiceNowModel
import Testing
@testable import StateMachine

/// Every (state, input) pair, decided for the usual task of that state. The table lists each pair that does
/// something; every pair not listed must change nothing (same state, no effects, no outcome).
@Suite struct EveryPairTests {
    static let finishCancelled = Transition.finish(.cancelled, "Cancelled before the deployment started")
    static let failInvalid = Transition(next: .failed, outcome: .invalidRequest, reason: "release: is missing")
    static let retry = [Effect.retry(after: .seconds(3))]

    static let table: [TaskState: [String: Transition]] = [
        .queued: [
            "accepted": Transition(next: .creatingChange, effects: [.resolveChange]),
            "tick": Transition(next: .creatingChange, effects: [.resolveChange]),
            "invalid": failInvalid,
            "slotGranted": Transition(next: .executing, effects: [.startDeployment]),
            "cancelRequested": Transition(next: .cancelled, outcome: .cancelled, reason: "Cancelled while queued"),
        ],
        .creatingChange: [
            "invalid": failInvalid,
            "cancelRequested": Transition(next: .cancelled, outcome: .cancelled, reason: "Cancelled before a change was linked"),
            "changeResolved": Transition(next: .implementCheck, effects: [.requestSlot]),
            "changeResolutionFailed": Transition(next: .failed, outcome: .changeNotFound, reason: "Change CHG9 was not found"),
            "serviceNowFailed.transient": .stay(.creatingChange, retry, note: "ServiceNow is not answering well, will retry: 503"),
            "serviceNowFailed.permanent": Transition(next: .failed, outcome: .servicenowError, reason: "403"),
            "retryDue": .stay(.creatingChange, [.resolveChange]),
            "recovered": .stay(.creatingChange, [.resolveChange]),
        ],
        .awaitingApproval: [
            "invalid": failInvalid,
            "cancelRequested": finishCancelled,
            "changeStatus": Transition(next: .implementCheck, effects: [.requestSlot]),
            "rejectionDetails": .finish(.changeRejected, "Change CHG0030001 was rejected: \"not now\""),
            "changeVanished": .finish(.servicenowError, "gone"),
            "serviceNowFailed.permanent": .finish(.servicenowError, "403"),
        ],
        .implementCheck: [
            "invalid": failInvalid,
            "cancelRequested": finishCancelled,
            "slotGranted": .stay(.implementCheck, [.freshChangeRead]),
            "recovered": .stay(.implementCheck, [.requestSlot]),
            "freshStatus": Transition(next: .executing, effects: [.startDeployment]),
            "rejectionDetails": .finish(.changeRejected, "Change CHG0030001 was rejected: \"not now\""),
            "changeVanished": .finish(.servicenowError, "gone"),
            "serviceNowFailed.transient": .stay(.implementCheck, retry, note: "the fresh read failed, will retry: 503"),
            "serviceNowFailed.permanent": .finish(.servicenowError, "403"),
            "retryDue": .stay(.implementCheck, [.freshChangeRead]),
        ],
        .executing: [
            "cancelRequested": .stay(.executing, [.stopDeployment(.cancelled)]),
            "childSpawned": .stay(.executing, [.releaseChild]),
            "spawnFailed": .finish(.configError, "deploy not found"),
            "childExited": .finish(.succeeded, "Deployed under change CHG0030001"),
            "changeVanished": .stay(.executing, note: "gone; the deployment goes on within its window and timeout"),
            "drainTimedOut": .stay(.executing, [.stopDeployment(.shutdownInterrupted)]),
            "recovered": .finish(.interrupted, "The daemon restarted before the deploy command was released (no pid was recorded); it never ran and will not be run"),
            "leftoverStopped": .finish(.interrupted, "The daemon restarted while the deploy command ran; the leftover process group ignored SIGTERM and was killed with SIGKILL. It will not be re-run."),
        ],
        .completing: [
            "invalid": failInvalid,
            "completed": Transition(next: .succeeded, outcome: .succeeded),
            "recovered": .stay(.completing, [.complete(outcome: .succeeded)]),
            "retryDue": .stay(.completing, [.complete(outcome: .succeeded)]),
        ],
    ]

    struct Pair: CustomTestStringConvertible, Sendable {
        var state: TaskState
        var input: String
        var testDescription: String { "\(state.rawValue) + \(input)" }
    }

    static let pairs: [Pair] = TaskState.allCases.flatMap { s in sampleInputs.map { Pair(state: s, input: $0.0) } }

    @Test(arguments: pairs)
    func decides(_ pair: Pair) {
        let input = sampleInputs.first { $0.0 == pair.input }!.1
        let t = decide(task(pair.state), input)
        if let expected = Self.table[pair.state]?[pair.input] {
            #expect(t == expected)
        } else {
            #expect(t == .stay(pair.state), "\(pair.state.rawValue) must not react to \(pair.input)")
        }
    }

    /// With conflict_check = block, the gate's inputs and the fresh read: only implement_check reacts.
    static let gateTable: [TaskState: [String: Transition]] = [
        .implementCheck: [
            "freshStatus": .stay(.implementCheck, [.runConflictCheck], note: "running the conflict check of CHG0030001"),
            "conflictReport": .stay(.implementCheck, [.retry(after: .seconds(60))],
                                    note: "held: the conflict check of CHG0030001 reports a blackout (Year-end freeze); checking again in 1m"),
            "blackoutSpans": Transition(next: .executing, effects: [.startDeployment]),
        ],
    ]

    @Test(arguments: TaskState.allCases.flatMap { s in ["freshStatus", "conflictReport", "blackoutSpans"].map { Pair(state: s, input: $0) } })
    func decidesWithTheGateOn(_ pair: Pair) {
        let input = sampleInputs.first { $0.0 == pair.input }!.1
        let t = decide(task(pair.state), input, policy: block)
        if let expected = Self.gateTable[pair.state]?[pair.input] {
            #expect(t == expected)
        } else {
            #expect(t == decide(task(pair.state), input), "\(pair.state.rawValue) + \(pair.input) must not depend on the gate")
        }
    }

    @Test func theTableNamesOnlyKnownInputs() {
        let names = Set(sampleInputs.map(\.0))
        for (_, row) in Self.table { #expect(Set(row.keys).isSubset(of: names)) }
        #expect(Self.pairs.count == TaskState.allCases.count * sampleInputs.count)
    }
}
