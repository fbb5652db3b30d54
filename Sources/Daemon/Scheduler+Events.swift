import AuditTrail
import Executor
import Foundation
import QueueContract
import QueueStore
import ServiceNowClient
import ServiceNowModel
import StateMachine
import Systemd

extension Scheduler {
    /// Turns one result of a child task into the state machine's input for its task.
    func handle(_ event: SchedulerEvent, _ loop: inout LoopState, _ batch: inout Batch, now: Date) {
        switch event {
        case .databaseChanged:
            loop.intakePending = true
        case .output, .wake:
            break
        case .changeNotified(let notification):
            noteNotification(notification, &loop)
        case .statuses(let connection, let numbers, let result, let cycle, let notified):
            if notified { notifiedReadEnded(connection: connection, numbers: numbers, &loop) }
            if let cycle { pollEnded(cycle, connection: connection, failed: (try? result.get()) == nil, &loop) }
            switch result {
            case .failure(let error): noteIntegrationError(connection: connection, taskID: nil, error.description, &loop)
            case .success(let snapshots): applyStatuses(snapshots, asked: numbers, connection: connection, &loop, &batch, now: now)
            }
        default:
            if handleArmed(event, &loop) { return }
            guard let id = event.taskID, var task = batch.task(id, in: loop) else { return }
            if event.endsWork { finishWork(&task, &loop) }
            handle(event, task, &loop, &batch, now: now)
        }
    }

    private func handle(_ event: SchedulerEvent, _ task: ActiveTask, _ loop: inout LoopState, _ batch: inout Batch, now: Date) {
        var task = task
        switch event {
        case .resolved(_, .found(let change, let link, let notes)):
            task.change = change
            task.changeLink = link
            batch.log(.notice, notes.first ?? "Change \(change.number) linked", task, link.rawValue.hasPrefix("created") ? .changeCreated : .changeLinked)
            feed(task, .changeResolved(change, link), &batch, now: now,
                 events: notes + ["change \(change.number): \(change.state.displayName), approval \(change.approval.rawValue)"]) { _ in
                TaskChange(changeNumber: change.number, changeSysID: change.sysID, changeLink: link, changeTypeUsed: change.type.rawValue,
                           audit: [Audit.changeLinked(change, link, task: task)])
            }
        case .resolved(_, .failed(let outcome, let reason)):
            noteIntegrationError(task, reason, &loop)
            feed(task, .changeResolutionFailed(outcome, reason: reason), &batch, now: now)
        case .resolved(_, .retryLater(let reason)):
            noteIntegrationError(task, reason, &loop)
            feed(task, .serviceNowFailed(reason: reason, transient: true), &batch, now: now)
        case .freshStatus(_, .success(let change), let approvers):
            task.change = change
            feed(task, .freshStatus(change), &batch, now: now, events: ["fresh read of \(change.number): \(change.state.displayName)"]) { t in
                TaskChange(audit: t.next == .executing ? Audit.approved(change, at: now, approvers: approvers) : [])
            }
        case .freshStatus(_, .failure(let error), _):
            noteIntegrationError(task, error.description, &loop)
            feed(task, .serviceNowFailed(reason: error.description, transient: error.isTransient), &batch, now: now)
        case .rejection(_, let change, let comment):
            task.change = change
            feed(task, .rejectionDetails(change, comment: comment), &batch, now: now)
        case .conflict(_, .success(let report)):
            let previous = task.conflict
            task.conflict = report
            if report.isFinished { task.conflictVerdict = report }
            feed(task, .conflictReport(report), &batch, now: now) { t in
                // One record per distinct finished answer: a long block re-checks every minute.
                guard report.isFinished, previous != report || t.next != .implementCheck else { return TaskChange() }
                let held = t.effects.contains { if case .retry = $0 { true } else { false } }
                return TaskChange(audit: [Audit.conflictCheck(report, task: task, mode: task.project.conflictCheck.rawValue,
                                                              held: held, refused: t.next == .completing)])
            }
        case .conflict(_, .failure(let error)), .blackouts(_, .failure(let error)):
            noteIntegrationError(task, error.description, &loop)
            feed(task, .serviceNowFailed(reason: error.description, transient: error.isTransient), &batch, now: now)
        case .blackouts(_, .success(let spans)):
            task.blackouts = spans
            let listed = spans.map { "\($0.schedule) \(GlideDateTime.format($0.start))–\(GlideDateTime.format($0.end)) UTC" }
            feed(task, .blackoutSpans(spans), &batch, now: now,
                 events: [spans.isEmpty ? "no blackout spans apply to the change" : "blackout spans: " + listed.joined(separator: "; ")])
        case .childSpawned(_, let identity):
            childSpawned(task, identity, &batch, now: now)
        case .childExited(_, .success(let run)):
            task.stop = nil
            task.release = nil
            task.runDuration = run.duration
            if run.released { task.exitCode = run.termination.exitCode }
            let input = Input.childExited(exitCode: run.termination.exitCode, timedOut: run.timedOut, released: run.released)
            batch.log(.notice, "Task \(task.id): deploy command \(run.released ? run.termination.description : "was not released")", task,
                      task.abort == nil && !run.timedOut ? .deploymentFinished : .deploymentAborted)
            feed(task, input, &batch, now: now,
                 events: [run.released ? "deploy command \(run.termination) after \(String(format: "%.1f", run.duration.seconds)) s"
                                       : "the guard was stopped before it released the deploy command"]) { t in
                guard run.released else { return TaskChange() }
                return TaskChange(exitCode: run.termination.exitCode,
                                  audit: Audit.executionEnded(run, abort: task.abort ?? (run.timedOut ? .timeout : nil), reason: t.reason))
            }
        case .childExited(_, .failure(let error)):
            task.stop = nil
            task.release = nil
            feed(task, .spawnFailed(reason: error.description), &batch, now: now, events: ["the deploy command could not start: \(error)"])
        case .leftover(_, let result):
            let finding = LeftoverFinding(result)
            feed(task, .leftoverStopped(finding), &batch, now: now) { t in
                TaskChange(audit: t.next == .completing ? [Audit.aborted(.shutdownInterrupted, reason: t.reason)] : [])
            }
        case .completed(_, let notes, let audit):
            if let failed = audit.first(where: { $0.kind == AuditKind.changeUpdateFailed }), let error = failed.details["error"]?.stringValue {
                noteIntegrationError(task, error, &loop)  // e.g. the user may read but not write changes (403)
            }
            for failed in audit where failed.kind == AuditKind.evidenceUploadFailed {
                // Shown by `changegate status`: the deployment's outcome stands, the evidence is missing.
                let file = failed.details["file_name"]?.stringValue ?? "evidence"
                noteIntegrationError(task, "evidence \(file) was not attached to \(task.change?.number ?? "the change"): \(failed.details["error"]?.stringValue ?? "")", &loop)
            }
            feed(task, .completed, &batch, now: now, events: notes) { _ in TaskChange(audit: audit) }
        case .statuses, .changeNotified, .databaseChanged, .output, .wake:
            break
        }
    }

    /// The batched poll's answer: only tasks whose change differs from the poll's last copy are decided again.
    /// The guard reported its pid: recorded in this step's write, and only then released.
    func childSpawned(_ task: ActiveTask, _ identity: ChildIdentity, _ batch: inout Batch, now: Date) {
        var task = task
        task.identity = identity
        task.startedAt = now
        feed(task, .childSpawned(pid: identity.pid), &batch, now: now,
             events: ["deploy command spawned (pid \(identity.pid)), held by its guard until the pid is recorded"]) { t in
            let released = t.effects.contains(.releaseChild)
            return TaskChange(childPID: identity.pid, childIdentity: identity.recorded, startedAt: now,
                              audit: released ? [Audit.executionStarted(pid: identity.pid, task: task)] : [])
        }
        if batch.effects.last.map({ $0 == (task.id, .releaseChild) }) == true {
            batch.log(.notice, "Task \(task.id): deployment started (pid \(identity.pid))", task, .deploymentStarted)
        }
    }

    /// `asked`: numbers read by number (absent means missing); the other snapshots (a delta poll's) count only when
    /// watched.
    func applyStatuses(_ snapshots: [String: ChangeSnapshot], asked: [String], connection: String,
                       _ loop: inout LoopState, _ batch: inout Batch, now: Date) {
        let askedSet = Set(asked)
        var numbers = asked
        for number in snapshots.keys where !askedSet.contains(number) { numbers.append(number) }
        for number in numbers {
            let key = WatchKey(connection: connection, number: number)
            guard let change = snapshots[number] else {
                guard loop.watch.markMissing(key) else { continue }
                let reason = "Change \(number) can no longer be read on connection \(connection) (deleted, or the service user lost access)"
                for id in loop.watch.watchers(key) {
                    if let task = batch.task(id, in: loop) { feed(task, .changeVanished(reason: reason), &batch, now: now) }
                }
                continue
            }
            guard loop.watch.update(change, connection: connection) else { continue }
            for id in loop.watch.watchers(key) {
                guard var task = batch.task(id, in: loop) else { continue }
                let previous = task.change
                task.change = change
                var events: [String] = []
                if previous?.state != change.state || previous?.approval != change.approval {
                    events.append("change \(number): \(change.state.displayName), approval \(change.approval.rawValue)")
                    if change.state == .implement { batch.log(.notice, "Task \(id): change \(number) is in Implement", task, .changeApproved) }
                }
                feed(task, .changeStatus(change), &batch, now: now, events: events)
            }
        }
    }
}

extension SchedulerEvent {
    var taskID: Int64? {
        switch self {
        case .resolved(let id, _), .freshStatus(let id, _, _), .rejection(let id, _, _), .childSpawned(let id, _),
             .conflict(let id, _), .blackouts(let id, _),
             .childExited(let id, _), .leftover(let id, _), .completed(let id, _, _): id
        case .statuses, .changeNotified, .databaseChanged, .output, .wake: nil
        }
    }

    /// Whether this result ends the child task that worked for the task (a spawn report does not).
    var endsWork: Bool {
        switch self {
        case .childSpawned: false
        default: taskID != nil
        }
    }
}

extension LeftoverFinding {
    init(_ result: LeftoverResult) {
        switch result {
        case .alreadyGone: self = .alreadyGone
        case .stoppedByTerm: self = .stoppedByTerm
        case .killed: self = .killed
        case .stillAlive: self = .stillAlive
        case .pidReused: self = .pidReused
        case .otherBoot(let boot): self = .otherMachine(bootID: boot)
        }
    }
}
