import ChangegateConfig
import Foundation
import QueueStore
import ServiceNowModel
import QueueContract
import StateMachine

extension Scheduler {
    /// New rows: validate, then hand to the state machine. A bad row fails alone; it never stops the loop.
    func intake(_ loop: inout LoopState, _ batch: inout Batch, config: ChangegateConfiguration, now: Date) {
        let rows: [TaskRecord]
        do { rows = try store.queued() } catch {
            return  // read trouble is reported by the write path; the rows wait.
        }
        var running = slotCounts(loop)
        var backlog = 0
        for row in rows where batch.task(row.id, in: loop) == nil || batch.task(row.id, in: loop)?.state == .queued {
            if let notBefore = row.notBefore, !notBefore.isEmpty {
                guard let at = Timestamp.parse(notBefore) else {
                    failRow(row, reason: "not_before: \"\(notBefore.prefix(60))\" is not a UTC ISO-8601 time such as 2026-11-29T14:00:00Z", &batch, now: now)
                    continue
                }
                if at > now { backlog += 1; continue }
            }
            if row.cancelRequested {
                batch.record(placeholder(row, config), TaskChange(state: TaskState.cancelled, outcome: Outcome.cancelled, reason: "Cancelled while queued",
                                                                finishedAt: now, events: ["cancelled while queued"],
                                                                audit: [Audit.enqueued(row, accepted: false, controlled: nil, reason: "Cancelled while queued"),
                                                                        Audit.finished(.cancelled, outcome: .cancelled, reason: "Cancelled while queued")]))
                continue
            }
            // A row already validated and waiting for a slot is not parsed again.
            let known = batch.task(row.id, in: loop)
            let task: ActiveTask
            if let known, known.state == .queued {
                task = known
            } else {
                let validated = RequestValidation.validate(row.raw, isKnownProject: { config.projects[$0] != nil },
                                                           isKnownEnvironment: { config.environments[$0] != nil })
                switch validated {
                case .failure(let error):
                    failRow(row, reason: error.description, &batch, now: now)
                    continue
                case .success(let request):
                    let project = config.projects[request.project]!
                    var new = ActiveTask(id: row.id, state: .queued, request: request, project: project,
                                         controlled: config.isChangeControlled(project: request.project, environment: request.environment),
                                         correlationID: correlationID(row.id))
                    new.cancelRequested = row.cancelRequested
                    task = new
                }
            }
            let slot = running[task.slotKey, default: 0] < task.project.maxConcurrent
            let t = StateMachine.decide(task.view, .accepted(slotAvailable: slot), now: now, policy: policy(task.project))
            if t.next == .queued { backlog += 1; batch.updated[task.id] = task; continue }
            if t.next == .executing { running[task.slotKey, default: 0] += 1 }
            let how = task.controlled ? "change controlled" : "not change controlled (project or environment not marked so)"
            apply(t, to: task, &batch, now: now,
                  extra: TaskChange(correlationID: task.correlationID, audit: [Audit.enqueued(row, accepted: true, controlled: task.controlled, reason: nil)]),
                  events: ["accepted: \(task.request.project) \(task.request.release) → \(task.request.environment), \(how)"
                           + (task.request.requestedBy.map { ", requested by \($0)" } ?? "")])
        }
        loop.queuedBacklog = backlog
    }

    func failRow(_ row: TaskRecord, reason: String, _ batch: inout Batch, now: Date) {
        let task = placeholder(row, config)
        // A row rejected at intake gets its `enqueued` record here; one failing after a restart already has it.
        let audit = (row.state == .queued ? [Audit.enqueued(row, accepted: false, controlled: nil, reason: reason)] : [])
            + [Audit.finished(.failed, outcome: .invalidRequest, reason: reason)]
        batch.record(task, TaskChange(state: .failed, outcome: .invalidRequest, reason: reason, finishedAt: now,
                                      events: ["rejected: \(reason)"], audit: audit))
        var failed = task
        failed.state = .failed
        failed.outcome = .invalidRequest
        batch.log(.warning, "Task \(row.id) failed validation: \(reason)", failed, nil)
    }

    /// An ActiveTask for a row that never got validated (to log and mark it).
    func placeholder(_ row: TaskRecord, _ config: ChangegateConfiguration) -> ActiveTask {
        func text(_ v: RawValue) -> String { if case .text(let s) = v { return String(s.prefix(200)) } else { return "" } }
        let request = DeploymentRequest(project: text(row.raw.project), environment: text(row.raw.environment),
                                        release: text(row.raw.release), changeNumber: nil, requestedBy: nil, variables: [:], emergency: false)
        var task = ActiveTask(id: row.id, state: .failed, request: request,
                              project: ProjectSettings(name: request.project, changeControlled: false, command: ["/bin/false"]),
                              controlled: false, correlationID: correlationID(row.id))
        task.state = row.cancelRequested ? .cancelled : .failed
        return task
    }

    func correlationID(_ id: Int64) -> String { "changegate-\(instanceID)-\(id)" }

    func policy(_ project: ProjectSettings) -> Policy { Policy(approvalTimeout: project.approvalTimeout) }

    func slotCounts(_ loop: LoopState) -> [String: Int] {
        var counts: [String: Int] = [:]
        for task in loop.tasks.values where task.state == .executing { counts[task.slotKey, default: 0] += 1 }
        return counts
    }

    /// Cancel requests from `changegate cancel` or a tool setting `cancel_requested`.
    func applyCancels(_ loop: inout LoopState, _ batch: inout Batch, now: Date) {
        guard let ids = try? store.cancelRequested() else { return }
        for id in ids {
            guard var task = batch.task(id, in: loop), !task.cancelRequested, !task.busy || task.state == .executing else { continue }
            task.cancelRequested = true
            if task.state == .queued { batch.updated[id] = task; continue }  // intake handles it next pass
            let t = StateMachine.decide(task.view, .completed, now: now, policy: policy(task.project))
            apply(t, to: task, &batch, now: now, events: ["cancel requested"])
        }
    }

    /// Ends a running deployment whose change window closed, from the last known change, between polls.
    func checkWindows(_ loop: inout LoopState, _ batch: inout Batch, now: Date) {
        for (id, task) in loop.tasks where task.state == .executing && task.controlled {
            guard let change = task.change, let end = change.plannedEnd, now >= end, task.stop?.isFired == false else { continue }
            let t = StateMachine.decide(batch.task(id, in: loop)!.view, .changeStatus(change, rejectionComment: nil), now: now)
            apply(t, to: batch.task(id, in: loop)!, &batch, now: now)
        }
    }
}
