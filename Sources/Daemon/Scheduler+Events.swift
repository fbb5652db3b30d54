import AuditTrail
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
    /// Applies one result from a child task.
    func handle(_ event: SchedulerEvent, _ loop: inout LoopState, _ batch: inout Batch, now: Date) {
        switch event {
        case .resolved(let id, let resolution):
            guard var task = batch.task(id, in: loop) else { return }
            task.busy = false
            switch resolution {
            case .found(let change, let link, let notes):
                task.change = change
                task.changeLink = link
                let extra = TaskChange(changeNumber: change.number, changeSysID: change.sysID, changeLink: link,
                                       changeTypeUsed: change.type.rawValue, audit: [Audit.changeLinked(change, link, task: task)])
                batch.log(.notice, notes.first ?? "Change \(change.number) linked", task,
                          link.rawValue.hasPrefix("created") ? .changeCreated : .changeLinked)
                let t = StateMachine.decide(task.view, .changeResolved(change, link), now: now, policy: policy(task.project))
                apply(t, to: task, &batch, now: now, extra: extra,
                      events: notes + ["change \(change.number): \(change.state.displayName), approval \(change.approval.rawValue)"])
            case .failed(let outcome, let reason):
                noteIntegrationError(task, reason, &loop)
                apply(StateMachine.decide(task.view, .changeResolutionFailed(outcome, reason: reason), now: now), to: task, &batch, now: now)
            case .retryLater(let reason):
                task.retryAfter = now.addingTimeInterval(config.daemon.pollInterval.seconds)
                noteIntegrationError(task, reason, &loop)
                batch.record(task, TaskChange(events: ["ServiceNow is not answering well, will retry: \(reason)"]))
            }

        case .freshStatus(let id, let result, let approvers):
            guard var task = batch.task(id, in: loop) else { return }
            task.busy = false
            switch result {
            case .success(let change):
                task.change = change
                let free = slotCounts(loop)[task.slotKey, default: 0] + startedInBatch(batch, slot: task.slotKey) < task.project.maxConcurrent
                let t = StateMachine.decide(task.view, .freshStatus(change, slotAvailable: free), now: now, policy: policy(task.project))
                let audit = t.next == .executing ? Audit.approved(change, at: now, approvers: approvers) : []
                apply(t, to: task, &batch, now: now, extra: TaskChange(audit: audit),
                      events: ["fresh read of \(change.number): \(change.state.displayName)" + (free ? "" : ", waiting for a free slot")])
            case .failure(let error):
                task.retryAfter = now.addingTimeInterval(1)
                noteIntegrationError(task, error.description, &loop)
                if error.isTransient { batch.updated[id] = task } else {
                    apply(StateMachine.decide(task.view, .serviceNowFailed(reason: error.description), now: now), to: task, &batch, now: now)
                }
            }

        case .statuses(let connection, let numbers, let result):
            loop.pollsInFlight.remove(connection)
            switch result {
            case .failure(let error):
                noteIntegrationError(connection: connection, taskID: nil, error.description, &loop)
            case .success(let snapshots):
                applyStatuses(snapshots, asked: Set(numbers), connection: connection, &loop, &batch, now: now)
            }

        case .rejection(let id, let change, let comment):
            guard var task = batch.task(id, in: loop) else { return }
            task.busy = false
            task.change = change
            apply(StateMachine.decide(task.view, .changeStatus(change, rejectionComment: comment), now: now, policy: policy(task.project)),
                  to: task, &batch, now: now)

        case .childStarted(let id, let pid):
            guard var task = batch.task(id, in: loop) else { return }
            task.pid = pid
            batch.record(task, TaskChange(childPID: pid, startedAt: now, events: ["deploy command started (pid \(pid)): \(task.project.command.joined(separator: " "))"],
                                          audit: [Audit.executionStarted(pid: pid, task: task)]))
            batch.log(.notice, "Task \(id): deployment started (pid \(pid))", task, .deploymentStarted)

        case .childExited(let id, let result):
            guard var task = batch.task(id, in: loop) else { return }
            task.busy = false
            task.stop = nil
            switch result {
            case .success(let run):
                task.exitCode = run.termination.exitCode
                let abort = task.abort ?? (run.timedOut ? .timeout : nil)
                let t = StateMachine.decide(task.view, .childExited(exitCode: run.termination.exitCode, abortedFor: abort), now: now)
                task.runDuration = run.duration
                batch.log(.notice, "Task \(id): deploy command \(run.termination)", task, abort == nil ? .deploymentFinished : .deploymentAborted)
                apply(t, to: task, &batch, now: now,
                      extra: TaskChange(exitCode: run.termination.exitCode, audit: Audit.executionEnded(run, abort: abort, reason: t.reason)),
                      events: ["deploy command \(run.termination) after \(String(format: "%.1f", run.duration.seconds)) s"])
            case .failure(let error):
                task.outcome = .configError
                let t = Transition(next: .completing, outcome: .configError, reason: error.description, effects: [.complete(outcome: .configError)])
                apply(t, to: task, &batch, now: now, events: ["the deploy command could not start: \(error)"])
            }

        case .completed(let id, let notes, let audit):
            guard var task = batch.task(id, in: loop) else { return }
            task.busy = false
            if let failed = audit.first(where: { $0.kind == AuditKind.changeUpdateFailed }), let error = failed.details["error"]?.stringValue {
                noteIntegrationError(task, error, &loop)  // e.g. the user may read but not write changes (403)
            }
            if task.outcome == .configError {
                apply(Transition(next: .failed, outcome: .configError), to: task, &batch, now: now, extra: TaskChange(audit: audit), events: notes)
            } else {
                apply(StateMachine.decide(task.view, .completed, now: now), to: task, &batch, now: now, extra: TaskChange(audit: audit), events: notes)
            }
        }
    }

    func startedInBatch(_ batch: Batch, slot: String) -> Int {
        batch.effects.reduce(0) { n, e in
            if case .startDeployment = e.1, batch.updated[e.0]?.slotKey == slot { return n + 1 }
            return n
        }
    }

    /// The batched poll's answer: every waiting or running task of these changes gets the news.
    func applyStatuses(_ snapshots: [String: ChangeSnapshot], asked: Set<String>, connection: String,
                       _ loop: inout LoopState, _ batch: inout Batch, now: Date) {
        for (id, stored) in loop.tasks where stored.connection == connection {
            guard var task = batch.task(id, in: loop), !task.busy || task.state == .executing,
                  task.state == .awaitingApproval || task.state == .executing,
                  let number = task.change?.number, asked.contains(number) else { continue }
            guard let change = snapshots[number] else {
                if task.state == .awaitingApproval {
                    apply(StateMachine.decide(task.view, .serviceNowFailed(reason: "Change \(number) can no longer be read on connection \(connection) (deleted, or the service user lost access)"), now: now),
                          to: task, &batch, now: now)
                }
                continue
            }
            let previous = task.change
            task.change = change
            if task.state == .awaitingApproval, change.approval == .rejected {
                task.busy = true  // fetch the approvers' comment before deciding
                batch.updated[id] = task
                batch.effects.append((id, .freshChangeRead))
                continue
            }
            let t = StateMachine.decide(task.view, .changeStatus(change, rejectionComment: nil), now: now, policy: policy(task.project))
            var events: [String] = []
            if previous?.state != change.state || previous?.approval != change.approval {
                events.append("change \(number): \(change.state.displayName), approval \(change.approval.rawValue)")
                if change.state == .implement { batch.log(.notice, "Task \(id): change \(number) is in Implement", task, .changeApproved) }
            }
            apply(t, to: task, &batch, now: now, events: events)
        }
    }

    func noteIntegrationError(_ task: ActiveTask, _ message: String, _ loop: inout LoopState) {
        noteIntegrationError(connection: task.connection ?? "-", taskID: task.id, message, &loop)
    }

    /// Records an integration error for `status` and `doctor`, at most once a minute per distinct message.
    func noteIntegrationError(connection: String, taskID: Int64?, _ message: String, _ loop: inout LoopState) {
        let now = Date()
        if let (last, at) = loop.lastIntegrationError[connection], last == message, now.timeIntervalSince(at) < 60 { return }
        loop.lastIntegrationError[connection] = (message, now)
        logger.error("ServiceNow connection \(connection): \(message)",
                     metadata: ["message_id": MessageID.integrationError.metadataValue, "task_id": .string(taskID.map(String.init) ?? "")])
        try? store.recordIntegrationError(connection: connection, taskID: taskID, message: message, at: now)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
