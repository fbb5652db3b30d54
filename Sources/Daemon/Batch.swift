import Foundation
import Logging
import QueueStore
import QueueContract
import StateMachine
import Systemd

/// The decisions of one pass: task updates overlaid on the loop's state until they are committed.
struct Batch {
    var changes: [(Int64, TaskChange)] = []
    var updated: [Int64: ActiveTask] = [:]
    var effects: [(Int64, Effect)] = []
    var consumedEvents: [SchedulerEvent] = []
    var logs: [(Logger.Level, String, [String: String], MessageID?)] = []
    /// Rows to drop from memory after commit (reached a terminal state).
    var finished: Set<Int64> = []

    func task(_ id: Int64, in loop: LoopState) -> ActiveTask? { updated[id] ?? loop.tasks[id] }

    mutating func record(_ task: ActiveTask, _ change: TaskChange) {
        updated[task.id] = task
        changes.append((task.id, change))
        if task.state.isTerminal { finished.insert(task.id) }
    }

    mutating func log(_ level: Logger.Level, _ message: String, _ task: ActiveTask, _ id: MessageID? = nil) {
        logs.append((level, message, task.metadata, id))
    }
}
