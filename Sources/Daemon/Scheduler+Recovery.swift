import ChangegateConfig
import Executor
import Foundation
import QueueContract
import QueueStore
import ServiceNowModel
import StateMachine

extension Scheduler {
    /// Start-up: every unfinished row is told `.recovered` and the state machine says how it resumes.
    /// A row that was executing is never re-run: its recorded process group is stopped (TERM, then KILL) and
    /// its slot stays taken until the group is gone.
    func recover(_ loop: inout LoopState, group: inout DiscardingTaskGroup) async {
        let rows: [TaskRecord]
        do { rows = try await store.unfinished() } catch {
            logger.error("Cannot read unfinished tasks for recovery: \(error). They are picked up once the database is readable.")
            return
        }
        let config = self.config
        let now = clock.now()
        var batch = Batch()
        for row in rows {
            let validated = RequestValidation.validate(row.raw, isKnownProject: { config.projects[$0] != nil },
                                                       isKnownEnvironment: { config.environments[$0] != nil })
            var task: ActiveTask
            if case .success(let request) = validated, let project = config.projects[request.project]?.settings(for: request.environment) {
                task = ActiveTask(id: row.id, state: row.state, request: request, project: project,
                                  controlled: config.isChangeControlled(project: request.project, environment: request.environment),
                                  correlationID: row.correlationID ?? correlationID(row.id))
            } else {
                task = placeholder(row, config)
            }
            restore(row, into: &task)
            if row.state == .executing {
                task.holdsSlot = true  // until the leftover is known to be gone
                loop.slots.occupy(key: task.slotKey)
            }
            loop.store(task)
            if let reason = validated.failureReason ?? (config.projects[task.request.project] == nil ? "unknown project" : nil) {
                let why = "after a restart the row no longer fits the configuration: \(reason)"
                feed(task, .invalid(reason: why), &batch, now: now, events: ["rejected: \(why)"])
                if row.state != .executing { continue }
            }
            feed(batch.task(row.id, in: loop) ?? task, .recovered, &batch, now: now,
                 events: row.state == .executing ? ["the daemon restarted while the deploy command ran"] : []) { _ in TaskChange() }
            batch.log(.info, "Task \(row.id) resumes in \(row.state.rawValue)", task)
        }
        let (slotsBefore, armedBefore) = (loop.slots, loop.armed)
        allocateSlots(&loop, &batch, now: now)
        do {
            try await store.commit(batch.changes, at: now)
        } catch {
            (loop.slots, loop.armed) = (slotsBefore, armedBefore)
            logger.error("Recovery could not write to the database: \(error). The affected tasks resume once it is writable.")
            return
        }
        settle(batch, &loop, now: now)
        startEffects(batch.effects, &loop, group: &group, now: now)
    }

    /// What the row remembers of the task's progress.
    private func restore(_ row: TaskRecord, into task: inout ActiveTask) {
        task.waitingSince = row.waitingSince
        task.startedAt = row.startedAt
        task.outcome = row.outcome
        task.reason = row.reason
        task.exitCode = row.exitCode
        task.cancelRequested = row.cancelRequested
        task.changeLink = row.changeLink
        if let number = row.changeNumber, let sysID = row.changeSysID {
            // Only identity is stored; the next read fills in the rest.
            task.change = ChangeSnapshot(sysID: sysID, number: number, state: .new, approval: .notRequested,
                                         type: ChangeType(rawValue: row.changeTypeUsed ?? "") ?? .normal)
        }
        if let recorded = row.childIdentity {
            task.identity = ChildIdentity(recorded: recorded)
        } else if let pid = row.childPID, pid > 1 {
            task.identity = ChildIdentity.legacy(pid: pid)  // written by a version that kept the pid only
        }
    }
}

extension ChildIdentity {
    /// A row written by a version that kept only the pid: the process is trusted as that version did, when it
    /// still leads its own group; otherwise nothing is known of it.
    static func legacy(pid: Int32) -> ChildIdentity? {
        guard getpgid(pid) == pid else { return nil }
        return ChildIdentity.of(pid: pid)
    }
}
