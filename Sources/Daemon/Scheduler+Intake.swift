import ChangegateConfig
import Foundation
import QueueContract
import QueueStore
import ServiceNowModel
import StateMachine

extension Scheduler {
    /// Validated queued rows held in memory at most; more are read as these move on.
    static let intakeWindow = 500

    /// New rows after the cursor, rows whose `not_before` came, and cancel requests. Each row is read once;
    /// a bad row fails alone and never stops the loop.
    /// Cancel requests and new rows come in one read. Behind a backlog (the last read filled the window) rows are
    /// read in chunks of half a window: at full speed each deployment frees one place, and a read for each would
    /// double the loop's database work.
    func intake(_ loop: inout LoopState, _ batch: inout Batch, now: Date) async {
        do {
            let room = loop.draining ? 0 : Self.intakeWindow - loop.queuedInMemory
            let limit = loop.intakeBacklog && !halfWindowFree(loop) ? 0 : max(0, room)
            let (pending, fresh) = try await store.intake(after: loop.cursor, limit: limit)
            let (cancels, readNow) = cancelRequests(pending, loop)
            for id in cancels {
                guard var task = batch.task(id, in: loop) else { continue }
                task.cancelRequested = true
                feed(task, .cancelRequested, &batch, now: now, events: ["cancel requested"])
            }
            var rows: [TaskRecord] = []
            let due = loop.dueNotBefore + readNow
            loop.dueNotBefore = []
            for id in due {
                loop.notBeforeIDs.remove(id)
                if let row = try await store.record(id), row.state == .queued { rows.append(row) }
            }
            guard !loop.draining else { return }
            if limit > 0 {
                rows += fresh
                if let last = fresh.last { batch.cursor = last.id }
                loop.intakeBacklog = fresh.count == limit  // more may wait behind them: read when half the window is free
            }
            for row in rows { take(row, &loop, &batch, now: now) }
        } catch {
            // Read trouble is reported by the write path; the rows wait and are read again.
            loop.intakePending = true
            loop.storageRetryAt = now.addingTimeInterval(1)
        }
    }

    /// Behind a backlog, the next read of rows waits until half the window is free.
    func halfWindowFree(_ loop: LoopState) -> Bool { Self.intakeWindow - loop.queuedInMemory >= Self.intakeWindow / 2 }

    /// Cancel requests for tasks the loop holds that have not heard of them yet, and rows still waiting for
    /// their `not_before` that must be read now, so that they end at once rather than at that time.
    private func cancelRequests(_ ids: [Int64], _ loop: LoopState) -> (cancels: [Int64], readNow: [Int64]) {
        var cancels: [Int64] = [], readNow: [Int64] = []
        for id in ids {
            if let task = loop.tasks[id] {
                if !task.cancelRequested { cancels.append(id) }
            } else if loop.notBeforeIDs.contains(id) {
                readNow.append(id)
            }
        }
        return (cancels, readNow)
    }

    /// A new queued row: validated and handed to the state machine.
    func take(_ row: TaskRecord, _ loop: inout LoopState, _ batch: inout Batch, now: Date) {
        let config = self.config
        let validated = RequestValidation.validate(row.raw, notBefore: row.notBefore,
                                                   isKnownProject: { config.projects[$0] != nil },
                                                   isKnownEnvironment: { config.environments[$0] != nil })
        let project = validated.request.flatMap { config.projects[$0.project]?.settings(for: $0.environment) }
        let templateProblem = validated.request.flatMap { r in
            project.flatMap { RequestValidation.checkTemplate(r, configured: $0.changeTemplate, allowed: $0.allowedChangeTemplates) }
        }
        guard case .success(let request) = validated, let project, templateProblem == nil else {
            let reason = templateProblem?.description ?? validated.failureReason ?? "unknown project"
            let placeholder = self.placeholder(row, config)
            batch.log(.warning, "Task \(row.id) failed validation: \(reason)", placeholder)
            feed(placeholder, .invalid(reason: reason), &batch, now: now, events: ["rejected: \(reason)"]) { _ in
                TaskChange(audit: [Audit.enqueued(row, accepted: false, controlled: nil, reason: reason)])
            }
            return
        }
        var task = ActiveTask(id: row.id, state: .queued, request: request, project: project,
                              controlled: config.isChangeControlled(project: request.project, environment: request.environment),
                              correlationID: correlationID(row.id))
        task.notBefore = request.notBefore
        task.cancelRequested = row.cancelRequested
        let t = StateMachine.decide(task.view, .accepted, now: now, policy: policy(project))
        if t == .stay(.queued), let at = task.notBefore, at > now {
            batch.notBefore.append((at, row.id))  // not held in memory until its time
            loop.notBeforeIDs.insert(row.id)
            return
        }
        let how = task.controlled ? "change controlled" : "not change controlled (project or environment not marked so)"
        feed(task, .accepted, &batch, now: now,
             events: row.cancelRequested ? ["cancelled while queued"] : ["accepted: \(request.project) \(request.release) → \(request.environment), \(how)"
                + (request.requestedBy.map { ", requested by \($0)" } ?? "")]) { t in
            let accepted = t.next != .cancelled
            return TaskChange(correlationID: task.correlationID,
                              audit: [Audit.enqueued(row, accepted: accepted, controlled: accepted ? task.controlled : nil,
                                                     reason: accepted ? nil : t.reason)])
        }
    }

    /// An ActiveTask for a row that never got validated (to log and mark it).
    func placeholder(_ row: TaskRecord, _ config: ChangegateConfiguration) -> ActiveTask {
        func text(_ v: RawValue) -> String { if case .text(let s) = v { return String(s.prefix(200)) } else { return "" } }
        let request = DeploymentRequest(project: text(row.raw.project), environment: text(row.raw.environment),
                                        release: text(row.raw.release))
        var task = ActiveTask(id: row.id, state: row.state, request: request,
                              project: ProjectSettings(name: request.project, changeControlled: false, command: ["/bin/false"]),
                              controlled: false, correlationID: row.correlationID ?? correlationID(row.id))
        task.cancelRequested = row.cancelRequested
        return task
    }
}

extension Result where Failure == ValidationError {
    var failureReason: String? {
        if case .failure(let e) = self { return e.description }
        return nil
    }

    var request: Success? { try? get() }
}
