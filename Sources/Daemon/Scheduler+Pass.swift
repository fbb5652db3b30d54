import ChangegateConfig
import Executor
import Foundation
import Logging
import QueueStore
import ServiceNowClient
import ServiceNowModel
import QueueContract
import StateMachine
import Systemd

extension Scheduler {
    /// One pass of the loop. Nothing here waits on the network or a child. Returns whether it did anything.
    @discardableResult
    func pass(_ loop: inout LoopState, group: inout DiscardingTaskGroup) -> Bool {
        let now = Date()
        let config = self.config
        var batch = Batch()
        // Output first: a child's lines are buffered before its exit is posted, so the log stays in order.
        flushOutput(loop.tasks)
        for event in inbox.drain() {
            batch.consumedEvents.append(event)
            handle(event, &loop, &batch, now: now)
        }
        if !loop.draining {
            intake(&loop, &batch, config: config, now: now)
        }
        applyCancels(&loop, &batch, now: now)
        checkWindows(&loop, &batch, now: now)
        let didWork = !batch.consumedEvents.isEmpty || !batch.changes.isEmpty
        guard commit(&batch, &loop) else { return false }
        startEffects(&loop, group: &group, config: config, now: now)
        startPolls(&loop, group: &group, config: config, now: now)
        let status = statusLine(loop)
        if status != loop.lastStatus {
            loop.lastStatus = status
            _ = notifier.status(status)
        }
        return didWork
    }

    /// Writes the batch in one transaction, then makes it the loop's state. On failure nothing is applied,
    /// the consumed results are queued again, and the next pass retries.
    func commit(_ batch: inout Batch, _ loop: inout LoopState) -> Bool {
        do {
            try store.apply(batch.changes)
        } catch {
            inbox.requeue(batch.consumedEvents)
            let now = Date()
            if loop.lastStorageError.map({ now.timeIntervalSince($0) > 30 }) ?? true {
                loop.lastStorageError = now
                logger.error("Cannot write the queue database: \(error). Tasks wait in their current state and continue when it is writable again.")
            }
            return false
        }
        if loop.lastStorageError != nil {
            loop.lastStorageError = nil
            logger.notice("The queue database is writable again")
        }
        for (id, task) in batch.updated {
            if batch.finished.contains(id) { loop.tasks[id] = nil } else { loop.tasks[id] = task }
        }
        for (level, message, metadata, id) in batch.logs {
            var m = metadata.mapValues { Logger.MetadataValue.string($0) }
            if let id { m["message_id"] = id.metadataValue }
            logger.log(level: level, "\(message)", metadata: m)
        }
        loop.pendingEffects = batch.effects
        return true
    }

    /// Moves a task to `transition.next`, recording the reason and the log lines.
    func apply(_ transition: Transition, to task: ActiveTask, _ batch: inout Batch, now: Date,
               extra: TaskChange = TaskChange(), events: [String] = []) {
        var t = task
        var change = extra
        change.events = events + change.events
        let moved = transition.next != task.state
        t.state = transition.next
        if let o = transition.outcome { t.outcome = o; change.outcome = o }
        if let r = transition.reason { t.reason = r; change.reason = r }
        if moved {
            change.state = transition.next
            change.events.append("state \(task.state.rawValue) → \(transition.next.rawValue)" + (transition.reason.map { ": \($0)" } ?? ""))
            if transition.next == .awaitingApproval || transition.next == .implementCheck, t.waitingSince == nil {
                t.waitingSince = now
                change.waitingSince = now
            }
            if transition.next.isTerminal {
                change.finishedAt = now
                change.audit.append(Audit.finished(transition.next, outcome: t.outcome, reason: t.reason))
            }
            let level: Logger.Level = transition.next == .failed ? .warning : .info
            batch.log(level, "Task \(t.id) \(task.state.rawValue) → \(transition.next.rawValue)" + (transition.reason.map { ": \($0)" } ?? ""), t, .taskStateChanged)
        }
        if moved || !change.isEmpty { batch.record(t, change) } else { batch.updated[t.id] = t }
        for effect in transition.effects {
            guard case .stopDeployment(let abort) = effect else {
                batch.effects.append((t.id, effect))
                continue
            }
            // Stopping is the safety action: it happens now, not after the write.
            guard let stop = t.stop, !stop.isFired else { continue }
            var stopped = batch.updated[t.id] ?? t
            stopped.abort = stopped.abort ?? abort
            batch.updated[t.id] = stopped
            stop.fire()
            batch.log(.warning, "Task \(t.id): stopping the deployment (\(abort))", t, .deploymentAborted)
            batch.changes.append((t.id, TaskChange(events: ["stopping the deploy command: \(abort)"])))
        }
    }
}
