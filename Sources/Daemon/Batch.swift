import Foundation
import Logging
import QueueStore
import StateMachine
import Systemd

/// The decisions of one step: task updates overlaid on the loop's state until they are committed.
struct Batch {
    var changes: [(Int64, TaskChange)] = []
    var updated: [Int64: ActiveTask] = [:]
    /// Effects to start after the write, in decision order.
    var effects: [(Int64, Effect)] = []
    /// What this step consumed, given back if the write fails.
    var consumed: [SchedulerEvent] = []
    var popped: [DeadlineQueue.Entry] = []
    var followUps: [(Int64, Input)] = []
    var logs: [(Logger.Level, String, [String: String], MessageID?)] = []
    /// Queue rows read up to here (the intake cursor after the write).
    var cursor: Int64?
    /// Queued rows to look at again at their `not_before`.
    var notBefore: [(Date, Int64)] = []

    func task(_ id: Int64, in loop: LoopState) -> ActiveTask? { updated[id] ?? loop.tasks[id] }

    mutating func record(_ task: ActiveTask, _ change: TaskChange) {
        updated[task.id] = task
        if !change.isEmpty { changes.append((task.id, change)) }
    }

    mutating func log(_ level: Logger.Level, _ message: String, _ task: ActiveTask, _ id: MessageID? = nil) {
        logs.append((level, message, task.metadata, id))
    }
}
