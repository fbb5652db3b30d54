import ChangegateConfig
import Foundation
import Logging
import QueueContract
import QueueStore
import StateMachine
import Systemd

extension Scheduler {
    /// One step: what arrived, what came due, what producers wrote — decided, written in one transaction,
    /// then acted on. Nothing here waits on the network or a child.
    func step(_ loop: inout LoopState, group: inout DiscardingTaskGroup) async {
        let now = clock.now()
        var batch = Batch()
        let (lines, dropped) = output.take()
        batch.consumed = inbox.take()
        for event in batch.consumed { handle(event, &loop, &batch, now: now) }
        let followUps = loop.followUps
        loop.followUps = []
        batch.followUps = followUps  // given back with the events if the write fails
        for (id, input) in followUps {
            guard let task = batch.task(id, in: loop) else { continue }
            feed(task, input, &batch, now: now)
        }
        fireDeadlines(&loop, &batch, now: now)
        if loop.storageRetryAt.map({ $0 <= now }) ?? false { loop.storageRetryAt = nil }
        if loop.intakePending && loop.storageRetryAt == nil {
            loop.intakePending = false
            await intake(&loop, &batch, now: now)
        }
        let (slotsBefore, armedBefore) = (loop.slots, loop.armed)
        allocateSlots(&loop, &batch, now: now)
        var log = lines.map { LogLine(taskID: $0.taskID, at: $0.at, stream: $0.stream == .stdout ? .stdout : .stderr, text: $0.text) }
        if dropped > 0, let last = lines.last {
            log.append(LogLine(taskID: last.taskID, at: now, stream: .stderr, text: "changegate: \(dropped) output lines were dropped while the database was not writable"))
        }
        do {
            try await store.commit(batch.changes, log: log, at: now)
        } catch {
            (loop.slots, loop.armed) = (slotsBefore, armedBefore)
            giveBack(batch, lines: lines, &loop, error: error, now: now)
            return
        }
        if loop.storageTrouble {
            loop.storageTrouble = false
            logger.notice("The queue database is writable again")
        }
        journal(lines, loop)
        for e in loop.integrationErrors {
            try? await store.noteIntegrationError(connection: e.connection, taskID: e.taskID, message: e.message, at: e.at)
        }
        loop.integrationErrors = []
        settle(batch, &loop, now: now)
        if loop.intakeBacklog && halfWindowFree(loop) { loop.intakePending = true }
        startEffects(batch.effects, &loop, group: &group, now: now)
        armNextGuards(Set(batch.updated.values.map(\.slotKey)), &loop, group: &group)
        startPolls(&loop, group: &group, now: now)
        for note in loop.daemonNotes { try? await store.setDaemonNote(note.key, note.value) }
        loop.daemonNotes = []
        startNotifiedReads(&loop, group: &group)
        let status = statusLine(loop)
        if status != loop.lastStatus {
            loop.lastStatus = status
            _ = notifier.status(status)
        }
    }

    /// The write failed: nothing of the step is applied. What it consumed goes back, and the loop tries again
    /// shortly (full or read-only storage passes; the tasks wait in their current state).
    func giveBack(_ batch: Batch, lines: [OutputBuffer.QueuedLine], _ loop: inout LoopState, error: QueueStoreError, now: Date) {
        inbox.requeue(batch.consumed)
        output.putBack(lines)
        for entry in batch.popped { loop.deadlines.push(entry) }
        loop.followUps.insert(contentsOf: batch.followUps, at: 0)
        loop.intakePending = true
        loop.storageRetryAt = now.addingTimeInterval(1)
        if !loop.storageTrouble {
            loop.storageTrouble = true
            logger.error("Cannot write the queue database: \(error). Tasks wait in their current state and continue when it is writable again.")
        }
    }

    /// Makes the committed batch the loop's state: tasks, counts, watchlist, slots, deadlines.
    func settle(_ batch: Batch, _ loop: inout LoopState, now: Date) {
        if let cursor = batch.cursor { loop.cursor = max(loop.cursor, cursor) }
        for (at, id) in batch.notBefore {
            loop.notBeforeIDs.insert(id)
            loop.deadlines.push(.init(at: at, id: id, kind: .notBefore, generation: 0))
        }
        for var task in batch.updated.values {
            let old = loop.tasks[task.id]
            // Slots were settled before the write (`allocateSlots`): the batch's copies say who holds one.
            if !task.state.isTerminal { schedule(&task, &loop) }
            report(task, movedFrom: old?.state, now: now)
            loop.store(task)
            if let connection = task.watched?.connection, loop.polls[connection]?.nextAt == nil {
                loop.polls[connection, default: .init()].nextAt = now.addingTimeInterval(config.daemon.pollInterval.seconds)
            }
        }
        for (level, message, metadata, id) in batch.logs {
            var m = metadata.mapValues { Logger.MetadataValue.string($0) }
            if let id { m["message_id"] = id.metadataValue }
            logger.log(level: level, "\(message)", metadata: m)
        }
    }

    /// Metrics of a committed change of state (counted once: a failed write is decided again).
    func report(_ task: ActiveTask, movedFrom old: TaskState?, now: Date) {
        guard let metrics, old != task.state else { return }
        metrics.taskMoved(from: old, to: task.state, project: task.request.project, environment: task.request.environment)
        if task.state.isTerminal, let outcome = task.outcome {
            metrics.outcome(outcome, project: task.request.project, environment: task.request.environment)
        }
        if task.state == .executing, old == .implementCheck, let since = task.waitingSince {
            metrics.approvalWait(now.timeIntervalSince(since))
        }
    }

    /// Pushes the task's next deadline when it moved (older heap entries become stale by generation).
    func schedule(_ task: inout ActiveTask, _ loop: inout LoopState) {
        let next = StateMachine.deadline(task.view, policy: policy(task.project))
        guard next != task.deadline else { return }
        task.deadline = next
        task.deadlineGeneration += 1
        if let next { loop.deadlines.push(.init(at: next, id: task.id, kind: .tick, generation: task.deadlineGeneration)) }
    }

    /// Due deadlines become inputs; stale ones are dropped; due `not_before` rows are read again.
    func fireDeadlines(_ loop: inout LoopState, _ batch: inout Batch, now: Date) {
        for entry in loop.deadlines.popDue(now) {
            batch.popped.append(entry)
            switch entry.kind {
            case .notBefore:
                loop.notBeforeIDs.remove(entry.id)
                loop.intakePending = true
                loop.dueNotBefore.append(entry.id)
            case .tick:
                guard let task = batch.task(entry.id, in: loop), task.deadlineGeneration == entry.generation else { continue }
                feed(task, .tick, &batch, now: now)
            case .retry:
                guard let task = batch.task(entry.id, in: loop), task.retryGeneration == entry.generation else { continue }
                feed(task, .retryDue, &batch, now: now)
            }
        }
    }

    func policy(_ project: ProjectSettings) -> Policy {
        Policy(approvalTimeout: project.approvalTimeout, retryDelay: config.daemon.pollInterval,
               conflictCheck: ConflictMode(rawValue: project.conflictCheck.rawValue) ?? .off, stopOnBlackout: project.stopOnBlackout,
               conflictRecheck: project.conflictRecheck)
    }

    func correlationID(_ id: Int64) -> String { "changegate-\(instanceID)-\(id)" }
}
