import Foundation
import QueueContract
import StateMachine

/// The loop's own state; only the loop touches it. Everything here is kept up to date as tasks change,
/// so no step has to walk every task.
struct LoopState {
    var tasks: [Int64: ActiveTask] = [:]
    private(set) var counts: [TaskState: Int] = [:]
    var slots = SlotTable()
    var deadlines = DeadlineQueue()
    var watch = Watchlist()
    var polls: [String: PollState] = [:]
    var notified = NotifiedReads()
    /// Inputs the loop owes tasks (slot grants, local completions); decided in the next step.
    var followUps: [(Int64, Input)] = []
    /// The queue may hold rows or cancel requests not yet read.
    var intakePending = true
    /// The last read of new rows filled the intake window: more wait behind it (see `Scheduler.intake`).
    var intakeBacklog = false
    /// The highest row id read so far; rows above it are new.
    var cursor: Int64 = 0
    /// Queued rows whose `not_before` is still ahead; they wait in `deadlines`, not in `tasks`.
    var notBeforeIDs: Set<Int64> = []
    /// Of those, the ones whose time came: read again by the next intake.
    var dueNotBefore: [Int64] = []
    /// ServiceNow work per connection: how much runs, and what waits for room (first come first served).
    var workInFlight: [String: Int] = [:]
    var owedWork: [String: [(Int64, Effect)]] = [:]
    /// Tasks with work running in a child task or a deploy command.
    var busy = 0
    var draining = false
    var drainStarted: Date?
    var drainTimedOut = false
    var lastStatus = ""
    var lastExtend: Date?
    var storageRetryAt: Date?
    var storageTrouble = false
    var lastIntegrationError: [String: (String, Date)] = [:]
    /// Integration errors to record in the database after the step's write.
    var integrationErrors: [(connection: String, taskID: Int64?, message: String, at: Date)] = []

    struct PollState {
        var nextAt: Date?
        var inFlight = false
        /// Start of the last poll that succeeded: the next delta reaches back to it (plus the overlap). nil: the next
        /// cycle is a full read (first poll, or after a failure).
        var syncedFrom: Date?
        var lastFull: Date?
        /// The interval the request budget stretched polls to, while it does.
        var stretchedTo: TimeInterval?
    }
    /// Notes for `changegate status` to write after the step (`nil` value: remove).
    var daemonNotes: [(key: String, value: String?)] = []

    func count(_ state: TaskState) -> Int { counts[state, default: 0] }

    /// Queued rows held in memory (validated, waiting for a slot): intake reads more only below a cap.
    var queuedInMemory: Int { count(.queued) }

    var intakeNow: Bool { intakePending && !draining && storageRetryAt == nil }

    var hasWorkInFlight: Bool { busy > 0 || count(.executing) > 0 || count(.completing) > 0 || !followUps.isEmpty || !armed.isEmpty }
    /// Guards spawned for the next deployment in line, by task (`Scheduler.armNextGuards`).
    var armed: [Int64: ArmedGuard] = [:]

    var nextPollDue: Date? {
        polls.values.compactMap { $0.inFlight ? nil : $0.nextAt }.min()
    }

    /// Puts `task` in place of its old copy, keeping the counts and the watchlist in step.
    mutating func store(_ task: ActiveTask) {
        let old = tasks[task.id]
        if let old { counts[old.state, default: 0] -= 1 }
        watch.move(task.id, from: old?.watched, to: task.state.isTerminal ? nil : task.watched)
        if task.state.isTerminal {
            tasks[task.id] = nil
        } else {
            counts[task.state, default: 0] += 1
            tasks[task.id] = task
        }
    }
}
