import Foundation
import QueueContract
import ServiceNowModel

/// What the state machine knows about a task when it decides. Built by the daemon from its copy of the row.
public struct TaskView: Sendable, Equatable {
    public var id: Int64
    public var state: TaskState
    public var changeControlled: Bool
    /// The last known copy of the task's change (identity only right after a restart).
    public var change: ChangeSnapshot?
    /// When the task started waiting for approval (for the approval timeout).
    public var waitingSince: Date?
    /// The row's `not_before`: the deployment may not start earlier.
    public var notBefore: Date?
    public var cancelRequested: Bool
    /// The outcome decided before `completing`.
    public var outcome: Outcome?
    /// Set once changegate asked the running deployment to stop, and why.
    public var abort: Abort?
    /// Whether the deploy command's pid is durably recorded (the guard may be released, or recovery must stop it).
    public var childRecorded: Bool
    /// The latest conflict report of the change (implement_check, with conflict_check on).
    public var conflict: ConflictReport?
    /// The latest finished report (a re-check still running does not replace it): what holds a blocked deployment
    /// and what its reason names.
    public var conflictVerdict: ConflictReport?
    /// The blackout spans of the change, read once per change (nil: not read yet).
    public var blackouts: [BlackoutSpan]?
    /// When the deploy command was spawned: blackouts that began before it do not stop it (warn mode).
    public var startedAt: Date?

    public init(id: Int64, state: TaskState, changeControlled: Bool, change: ChangeSnapshot? = nil,
                waitingSince: Date? = nil, notBefore: Date? = nil, cancelRequested: Bool = false,
                outcome: Outcome? = nil, abort: Abort? = nil, childRecorded: Bool = false) {
        self.id = id
        self.state = state
        self.changeControlled = changeControlled
        self.change = change
        self.waitingSince = waitingSince
        self.notBefore = notBefore
        self.cancelRequested = cancelRequested
        self.outcome = outcome
        self.abort = abort
        self.childRecorded = childRecorded
    }

    /// With the schedule-aware gate's fields.
    public func with(conflict: ConflictReport?, verdict: ConflictReport?, blackouts: [BlackoutSpan]?, startedAt: Date?) -> TaskView {
        var v = self
        v.conflict = conflict
        v.conflictVerdict = verdict
        v.blackouts = blackouts
        v.startedAt = startedAt
        return v
    }

    public var changeNumber: String? { change?.number }
}

/// Per-project timing rules the decisions depend on.
public struct Policy: Sendable, Equatable {
    public var approvalTimeout: Duration
    /// How long to wait before trying again after a ServiceNow failure that may pass.
    public var retryDelay: Duration
    /// What a conflict reported by ServiceNow does (docs/schedule-gate.md).
    public var conflictCheck: ConflictMode
    /// Stop a run when a blackout span begins before it ends.
    public var stopOnBlackout: Bool
    /// How often a blocked deployment checks its conflicts again.
    public var conflictRecheck: Duration

    public init(approvalTimeout: Duration = .seconds(72 * 3600), retryDelay: Duration = .seconds(3),
                conflictCheck: ConflictMode = .off, stopOnBlackout: Bool = true, conflictRecheck: Duration = .seconds(60)) {
        self.approvalTimeout = approvalTimeout
        self.retryDelay = retryDelay
        self.conflictCheck = conflictCheck
        self.stopOnBlackout = stopOnBlackout
        self.conflictRecheck = conflictRecheck
    }
}

/// `conflict_check`: block (wait while a conflict is reported), warn (start and name it), off (no check).
public enum ConflictMode: String, Sendable, Equatable {
    case block, warn, off
}

/// Something that happened, which the machine turns into the next state and effects.
public enum Input: Sendable, Equatable {
    /// The row passed validation (queued only).
    case accepted
    /// The row failed validation (at intake, or after a restart against a changed config): the reason names the column.
    case invalid(reason: String)
    /// A concurrency slot of the task's project and environment is now held by the task.
    case slotGranted
    /// One of the task's deadlines came (window end, approval timeout, planned start, not_before).
    case tick
    /// A retry the machine asked for (`Effect.retry`) is due.
    case retryDue
    /// `changegate cancel` or a producer set `cancel_requested`.
    case cancelRequested
    /// The change was found or created (creating_change only).
    case changeResolved(ChangeSnapshot, ChangeLink)
    /// Finding or creating the change ended in a decision to fail.
    case changeResolutionFailed(Outcome, reason: String)
    /// The poll read the task's change and it differs from the last copy.
    case changeStatus(ChangeSnapshot)
    /// The approvers' comment on a rejected change (after `Effect.fetchRejectionComment`).
    case rejectionDetails(ChangeSnapshot, comment: String?)
    /// The fresh read of implement_check, made while the task holds its slot.
    case freshStatus(ChangeSnapshot)
    /// The change's conflict check report (after `Effect.runConflictCheck` or `.readConflictReport`).
    case conflictReport(ConflictReport)
    /// The blackout spans that apply to the change (after `Effect.readBlackouts`).
    case blackoutSpans([BlackoutSpan])
    /// The poll no longer returns the task's change (deleted, or the service user lost access).
    case changeVanished(reason: String)
    /// A ServiceNow call failed; `transient` says whether trying again later may succeed.
    case serviceNowFailed(reason: String, transient: Bool)
    /// The guard holding the deploy command was spawned (not yet released).
    case childSpawned(pid: Int32)
    /// The deploy command could not be started (missing, not executable, bad working directory).
    case spawnFailed(reason: String)
    /// The child ended. `released` is false when the guard never let the command run.
    case childExited(exitCode: Int32, timedOut: Bool, released: Bool)
    /// The daemon restarted and found the task in its stored state.
    case recovered
    /// Recovery's teardown of a previous daemon's leftover process group ended.
    case leftoverStopped(LeftoverFinding)
    /// Completing work is done (work notes, close); the outcome decided earlier is final.
    case completed
    /// The daemon is stopping and its drain timeout passed.
    case drainTimedOut
}

/// What recovery verified about a previous daemon's deploy command.
public enum LeftoverFinding: Sendable, Equatable {
    case alreadyGone
    case stoppedByTerm
    case killed
    /// Even SIGKILL did not end it (yet): the slot stays taken and recovery tries again.
    case stillAlive
    /// The recorded pid belongs to another process now; nothing was signalled.
    case pidReused
    /// It ran under another boot id: a previous boot of this machine, or another host of a shared queue (whose
    /// leader stops its deploys before its lease runs out). Nothing here can be signalled.
    case otherMachine(bootID: String)
}

/// Why changegate stopped a running deployment.
public enum Abort: Sendable, Equatable {
    case changeLeftImplement(ChangeState)
    case windowClosed
    /// A blackout span of this schedule began while the command ran.
    case blackout(schedule: String)
    case timeout
    case cancelled
    case shutdownInterrupted
}

/// What the daemon must do next, besides storing the new state.
public enum Effect: Sendable, Equatable {
    /// Find or create the change (creating_change).
    case resolveChange
    /// Wait for a concurrency slot; the answer is `.slotGranted`.
    case requestSlot
    /// Read the change once more (implement_check), and who approved it.
    case freshChangeRead
    /// Start the instance's conflict check of the change, then read its report; the answer is `.conflictReport`.
    case runConflictCheck
    /// Read the report of a conflict check still running; the answer is `.conflictReport`.
    case readConflictReport
    /// Read the blackout spans that apply to the change, once; the answer is `.blackoutSpans`.
    case readBlackouts
    /// Read the approvers of a rejected change for their comment; the answer is `.rejectionDetails`.
    case fetchRejectionComment
    /// Spawn the deploy command behind its guard; the answer is `.childSpawned` or `.spawnFailed`.
    case startDeployment
    /// The pid is recorded: let the guard run the command. Performed only after the write.
    case releaseChild
    /// Stop the deployment (TERM, KILL after the grace); performed at once, before the write.
    case stopDeployment(Abort)
    /// Stop a previous daemon's leftover process group; the answer is `.leftoverStopped`.
    case stopLeftover
    /// Work notes and close-out; the answer is `.completed`.
    case complete(outcome: Outcome)
    /// Ask again for this state's work after `after`; the answer is `.retryDue`.
    case retry(after: Duration)
}

/// The result of one decision.
public struct Transition: Sendable, Equatable {
    public var next: TaskState
    public var outcome: Outcome?
    public var reason: String?
    public var effects: [Effect]
    /// A line for the task log when nothing else explains the decision (e.g. why nothing changed).
    public var note: String?

    public init(next: TaskState, outcome: Outcome? = nil, reason: String? = nil, effects: [Effect] = [], note: String? = nil) {
        self.next = next
        self.outcome = outcome
        self.reason = reason
        self.effects = effects
        self.note = note
    }

    public static func stay(_ state: TaskState, _ effects: [Effect] = [], note: String? = nil) -> Transition {
        Transition(next: state, effects: effects, note: note)
    }

    static func fail(_ outcome: Outcome, _ reason: String) -> Transition {
        Transition(next: outcome == .cancelled ? .cancelled : .failed, outcome: outcome, reason: reason)
    }

    /// Ends through `completing`, so the change gets its closing work note.
    static func finish(_ outcome: Outcome, _ reason: String) -> Transition {
        Transition(next: .completing, outcome: outcome, reason: reason, effects: [.complete(outcome: outcome)])
    }
}
