import Foundation
import StateMachine

extension Scheduler {
    /// The slot side of a step's decisions, before its write: tasks that left a slot-holding state free their slot,
    /// requests join the queue, and whoever a slot goes to is told `.slotGranted` in this same step. A freed slot is
    /// thus taken in the transaction that freed it, and a new row is started in the step that took it in. The slot
    /// table (and the armed guards) are changed in place; the caller keeps copies to restore when the write fails.
    func allocateSlots(_ loop: inout LoopState, _ batch: inout Batch, now: Date) {
        for _ in 0..<8 {  // a grant starts a task and frees nothing, so this settles in one or two passes
            var granted: [Int64] = []
            for id in batch.updated.keys.sorted() {
                guard var task = batch.updated[id] else { continue }
                if task.holdsSlot && task.state != .implementCheck && task.state != .executing {
                    task.holdsSlot = false
                    granted += loop.slots.release(key: task.slotKey, limit: task.project.maxConcurrent)
                }
                if task.waitingForSlot && task.state != .implementCheck && task.state != .queued {
                    task.waitingForSlot = false
                    loop.slots.withdraw(task.id)
                    if let armed = loop.armed[id] { disarm(armed) }  // its end is reported and forgotten
                }
                batch.updated[id] = task
            }
            var requested = false
            var kept: [(Int64, Effect)] = []
            for (id, effect) in batch.effects {
                guard effect == .requestSlot, var task = batch.task(id, in: loop) else {
                    kept.append((id, effect))
                    continue
                }
                requested = true
                task.waitingForSlot = true
                batch.updated[id] = task
                granted += loop.slots.request(id, key: task.slotKey, limit: task.project.maxConcurrent)
            }
            batch.effects = kept
            for id in granted {
                guard var task = batch.task(id, in: loop) else { continue }
                task.holdsSlot = true
                task.waitingForSlot = false
                feed(task, .slotGranted, &batch, now: now)
                adoptArmedGuard(id, &loop, &batch, now: now)
            }
            if granted.isEmpty && !requested { return }
        }
    }
}
