import Foundation
import QueueStore
import ServiceNowModel
import QueueContract
import StateMachine
#if canImport(Glibc)
import Glibc
#endif

extension Scheduler {
    /// Start-up: picks up every unfinished row. Waiting rows resume; a row that was executing when the
    /// daemon died is never re-run: its leftover process group is stopped and it fails as `interrupted`.
    func recover(_ loop: inout LoopState) {
        let config = self.config
        let rows: [TaskRecord]
        do { rows = try store.active() } catch {
            logger.error("Cannot read unfinished tasks for recovery: \(error)")
            return
        }
        var batch = Batch()
        let now = Date()
        for row in rows {
            let validated = RequestValidation.validate(row.raw, isKnownProject: { config.projects[$0] != nil },
                                                       isKnownEnvironment: { config.environments[$0] != nil })
            guard case .success(let request) = validated, let project = config.projects[request.project] else {
                let reason = (try? validated.get()) == nil ? "\(validated)" : "unknown project"
                failRow(row, reason: "after a restart the row no longer fits the configuration: \(reason)", &batch, now: now)
                continue
            }
            var task = ActiveTask(id: row.id, state: row.state, request: request, project: project,
                                  controlled: config.isChangeControlled(project: request.project, environment: request.environment),
                                  correlationID: row.correlationID ?? correlationID(row.id))
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
            if row.state == .executing {
                var events = ["the daemon restarted while the deploy command ran"]
                if let pid = row.childPID, pid > 1, getpgid(pid) == pid {
                    kill(-pid, SIGTERM)
                    events.append("stopped the leftover process group \(pid)")
                }
                let t = StateMachine.decide(task.view, .childExited(exitCode: -1, abortedFor: .shutdownInterrupted), now: now)
                apply(t, to: task, &batch, now: now, extra: TaskChange(audit: [Audit.aborted(.shutdownInterrupted, reason: t.reason)]), events: events)
                continue
            }
            batch.updated[row.id] = task
            batch.log(.info, "Task \(row.id) resumes in \(row.state.rawValue)", task, nil)
        }
        if commit(&batch, &loop) == false {
            logger.error("Recovery could not write to the database; it is retried as the loop runs")
        }
    }
}
