import AuditTrail
import ChangegateConfig
import Foundation
import QueueContract
import QueueStore
import ServiceNowClient
import ServiceNowModel

/// completing: the closing work note with the real work times, the evidence attachments, then the close-out
/// walked through the states ServiceNow allows (docs/schedule-gate.md).
struct Completer: Sendable {
    let service: any ChangeService
    let now: @Sendable () -> Date
    let otherUsers: @Sendable (String, Int64) async -> [Int64]
    /// The task's log (up to about `maxBytes`) and its audit records so far.
    let evidenceSource: @Sendable (Int64, Int) async -> (log: [LogLine], audit: [AuditRecord])

    func complete(_ task: ActiveTask, duration: Duration?) async -> (notes: [String], audit: [AuditEvent]) {
        guard let change = task.change else { return ([], []) }
        var notes: [String] = []
        var audit: [AuditEvent] = []
        let outcome = task.outcome ?? .interrupted
        var update = ChangeUpdate()
        if task.project.workNotes { update.workNotes = WorkNotes.finished(task, duration: duration) }
        if task.project.evidence, let start = task.startedAt {
            update.workStart = start
            update.workEnd = duration.map { start.addingTimeInterval($0.seconds) } ?? now()
        }
        do {
            if update.workNotes != nil || update.workStart != nil { _ = try await service.updateChange(sysID: change.sysID, update) }
        } catch {
            notes.append("Could not update change \(change.number): \(error)")
            audit.append(Audit.changeUpdateFailed(change, error: "\(error)"))
        }
        if task.project.evidence {
            let (n, a) = await attachEvidence(task, change, workTimes: update.workStart != nil, duration: duration)
            notes += n
            audit += a
        }
        let (n, a) = await closeOut(task, change, outcome: outcome)
        return (notes + n, audit + a)
    }

    /// Attaches the log and the evidence record. A failed upload is retried, then recorded; it never changes
    /// the deployment's outcome.
    func attachEvidence(_ task: ActiveTask, _ change: ChangeSnapshot, workTimes: Bool, duration: Duration?) async -> ([String], [AuditEvent]) {
        let (log, records) = await evidenceSource(task.id, task.project.evidenceMaxBytes)
        let logData = Evidence.logText(log, maxBytes: task.project.evidenceMaxBytes)
        let record = Evidence.record(task, records: records, duration: duration, end: now())
        let files = [("changegate-task-\(task.id).log", "text/plain", logData),
                     ("changegate-task-\(task.id)-evidence.json", "application/json", record)]
        var notes: [String] = [], audit: [AuditEvent] = [], attached: [AttachmentRecord] = []
        for (name, type, data) in files {
            switch await upload(change, name, type, data) {
            case .success(let a): attached.append(a)
            case .failure(let failure):
                let tries = failure.attempts == 1 ? "1 attempt" : "\(failure.attempts) attempts"
                notes.append("Could not attach \(name) to change \(change.number) after \(tries): \(failure.error). The deployment's outcome stands")
                audit.append(Audit.evidenceUploadFailed(change, file: name, attempts: failure.attempts, error: failure.error.description))
            }
        }
        if !attached.isEmpty {
            notes.append("Attached \(attached.map(\.fileName).joined(separator: ", ")) to change \(change.number)")
            audit.append(Audit.evidenceAttached(change, attached, workTimes: workTimes, evidenceHash: AuditChain.sha256Hex(Array(record))))
        }
        return (notes, audit)
    }

    /// Tries at most this often (the client already backs off within each attempt).
    static let uploadAttempts = 3

    /// The upload, tried up to `uploadAttempts` times; on failure, the last error and how many attempts were made.
    func upload(_ change: ChangeSnapshot, _ name: String, _ type: String, _ data: Data) async -> Result<AttachmentRecord, UploadFailure> {
        var last: ServiceNowError?
        var attempts = 0
        while attempts < Self.uploadAttempts {
            attempts += 1
            do throws(ServiceNowError) {
                return .success(try await service.attach(changeSysID: change.sysID, fileName: name, contentType: type, data: data))
            } catch {
                last = error
                if !error.isTransient { break }  // a refusal (size, ACL) will not pass by trying again
            }
        }
        return .failure(UploadFailure(error: last!, attempts: attempts))
    }

    struct UploadFailure: Error {
        var error: ServiceNowError
        var attempts: Int
    }

    /// Moves the change on when the project says so, through the states ServiceNow allows now.
    func closeOut(_ task: ActiveTask, _ change: ChangeSnapshot, outcome: Outcome) async -> ([String], [AuditEvent]) {
        let standard = change.type == .standard
        let failed = !outcome.isSuccess
        let target = CloseOut.target(project: task.project, outcome: outcome, standard: standard)
        guard let target else {
            // A failed standard change left in Implement is said out loud, never left silently.
            guard standard, failed, Completer.ranUnderChange(task) else { return ([], []) }
            let why = "Leaving standard change \(change.number) in Implement after outcome \(outcome.rawValue): set projects.\(task.project.name).close_change_on_failure to move it on"
            return ([why], [Audit.changeLeftOpen(change, why: why)])
        }
        let others = await otherUsers(change.number, task.id)
        if !others.isEmpty {
            let why = "Leaving change \(change.number) in Implement: tasks \(others.map(String.init).joined(separator: ", ")) still use it"
            return ([why], [Audit.changeLeftOpen(change, why: why)])
        }
        // Read the change now: the poll's copy may be stale, and after a restart only its number is known.
        let current = try? await service.change(sysID: change.sysID)
        guard current?.state == .implement else {
            let why = "Not closing change \(change.number): it is \(current?.state.displayName ?? "unreadable"), not Implement"
            return ([why], [Audit.changeLeftOpen(change, why: why)])
        }
        let closeNotes = "changegate task \(task.id): \(task.reason ?? outcome.rawValue)"
        return await CloseOut(service: service).walk(change, to: target.state, code: target.code, notes: closeNotes)
    }

    /// Whether the task got as far as a deployment decision under the change (not refused before linking).
    static func ranUnderChange(_ task: ActiveTask) -> Bool { task.change != nil && task.controlled }
}

/// The close-out walk: each step is one of the states `nextstates` offers, towards Review, Closed or Canceled.
struct CloseOut: Sendable {
    let service: any ChangeService

    struct Target: Equatable { var state: ChangeState; var code: CloseCode? }

    /// Where the change goes after `outcome`, if anywhere. Only a run under the change decides a close code;
    /// a failed standard change goes where `close_change_on_failure` says (the close code is then unsuccessful).
    static func target(project: ProjectSettings, outcome: Outcome, standard: Bool) -> Target? {
        if standard, !outcome.isSuccess, let onFailure = project.closeChangeOnFailure {
            switch onFailure {
            case .none: return nil
            case .review: return Target(state: .review, code: .unsuccessful)
            case .closed: return Target(state: .closed, code: .unsuccessful)
            case .canceled: return Target(state: .canceled, code: nil)
            }
        }
        guard let code = closeCode(for: outcome) else { return nil }
        switch project.closeChange {
        case .none: return nil
        case .review: return Target(state: .review, code: code)
        case .closed: return Target(state: .closed, code: code)
        }
    }

    static func closeCode(for outcome: Outcome) -> CloseCode? {
        switch outcome {
        case .succeeded: .successful
        case .deployFailed, .deployTimeout: .unsuccessful
        default: nil
        }
    }

    func walk(_ change: ChangeSnapshot, to target: ChangeState, code: CloseCode?, notes closeNotes: String) async -> ([String], [AuditEvent]) {
        var notes: [String] = [], audit: [AuditEvent] = []
        var at = ChangeState.implement
        for _ in 0..<4 where at != target {
            let allowed: [ChangeState]
            do throws(ServiceNowError) { allowed = try await service.nextStates(sysID: change.sysID) } catch {
                let why = "Could not read the next states of \(change.number) (\(error)); it stays in \(at.displayName)"
                notes.append(why)
                audit.append(Audit.changeUpdateFailed(change, error: why))
                return (notes, audit)
            }
            let step: ChangeState? = allowed.contains(target) ? target : (target == .closed && allowed.contains(.review) ? .review : nil)
            guard let step else {
                let offered = allowed.isEmpty ? "none" : allowed.map(\.displayName).joined(separator: ", ")
                let why = "Change \(change.number) cannot move from \(at.displayName) towards \(target.displayName) now (ServiceNow allows: \(offered)); it stays in \(at.displayName)"
                notes.append(why)
                audit.append(Audit.changeLeftOpen(change, why: why))
                return (notes, audit)
            }
            let move = ChangeUpdate(state: step, closeCode: step == .canceled ? nil : code, closeNotes: closeNotes)
            do throws(ServiceNowError) { _ = try await service.updateChange(sysID: change.sysID, move) } catch {
                notes.append("Could not move change \(change.number) to \(step.displayName): \(error)")
                audit.append(Audit.changeUpdateFailed(change, error: "\(error)"))
                return (notes, audit)
            }
            audit.append(Audit.changeMoved(change, move))
            notes.append("Moved change \(change.number) to \(step.displayName)" + (move.closeCode.map { " with close code \($0.rawValue)" } ?? ""))
            at = step
        }
        return (notes, audit)
    }
}
