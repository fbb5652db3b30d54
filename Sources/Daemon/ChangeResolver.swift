import ChangegateConfig
import Foundation
import ServiceNowClient
import ServiceNowModel
import QueueContract
import StateMachine

/// creating_change: finds the task's change request, or creates exactly one.
struct ChangeResolver: Sendable {
    let service: any ChangeService
    var items = ConfigurationItemCache()
    var client: any ChangeService { service }
    var connectionName: String { service.name }

    func resolve(_ task: ActiveTask) async -> Resolution {
        do {
            if let number = task.request.changeNumber {
                guard let change = try await client.change(number: number) else {
                    return .failed(.changeNotFound, reason: "Change \(number) (given on the row) was not found on connection \(connectionName)")
                }
                return .found(change, .givenNumber, notes: ["Using change \(number), given on the row"])
            }
            // Our own earlier attempt first: a crash between the create call and the database commit
            // leaves a change carrying this task's correlation id, and it must be reused, never duplicated.
            if let mine = try await client.changes(correlationID: task.correlationID).first {
                return .found(mine, .correlationMatch, notes: ["Found change \(mine.number) created earlier for this task (correlation id \(task.correlationID))"])
            }
            let title = task.project.title(release: task.request.release, environment: task.request.environment)
            let open = try await client.openChanges(titled: title)
            if open.count > 1 {
                let numbers = open.map(\.number).sorted().joined(separator: ", ")
                return .failed(.ambiguousChange, reason: "Several open changes are titled \"\(title)\": \(numbers). Give change_number on the row, or cancel the extra changes")
            }
            if let match = open.first {
                return .found(match, .titleMatch, notes: ["Using open change \(match.number) whose short description matches \"\(title)\""])
            }
            return try await create(task, title: title)
        } catch let error where error.isTransient || isAmbiguous(error) {
            return .retryLater(reason: error.description)
        } catch {
            return .failed(.servicenowError, reason: error.description)
        }
    }

    private func create(_ task: ActiveTask, title: String) async throws(ServiceNowError) -> Resolution {
        var fields = task.project.changeFields
        fields["short_description"] = title
        fields["description"] = Self.description(task)
        fields["correlation_id"] = task.correlationID
        fields["correlation_display"] = "changegate"
        // The CIs first: a wrong name must stop the create, not leave a change without its CI.
        var cis: [ConfigurationItem] = []
        for name in task.project.configurationItems {
            guard let ci = try await items.resolve(name, on: client) else {
                return .failed(.servicenowError, reason: "Configuration item \"\(name)\" was not found on connection \(connectionName). Fix cmdb_ci in [projects.\(task.project.name)] or [projects.\(task.project.name).environments.\(task.request.environment)]")
            }
            cis.append(ci)
        }
        if let first = cis.first { fields["cmdb_ci"] = first.sysID }
        var found: Resolution
        // The row's template (checked against the allow list at intake) wins over the configured one.
        if let templateName = task.request.changeTemplate ?? task.project.changeTemplate, !task.request.emergency {
            guard let template = try await client.standardTemplate(named: templateName) else {
                let fix = task.request.changeTemplate != nil ? "fix the row's change_template" : "fix change_template in [projects.\(task.project.name)] or its environment table"
                return .failed(.servicenowError, reason: "Standard change template \"\(templateName)\" was not found on connection \(connectionName). \(fix.prefix(1).uppercased() + fix.dropFirst()), or check the template is active")
            }
            let change = try await client.createStandardChange(templateSysID: template.sysID, fields: fields)
            found = .found(change, .createdStandard, notes: ["Created standard change \(change.number) from template \"\(templateName)\""])
        } else {
            let type: ChangeType = task.request.emergency ? .emergency : .normal
            let change = try await client.createChange(type, fields: fields)
            found = .found(change, type == .emergency ? .createdEmergency : .createdNormal,
                           notes: ["Created \(type.rawValue) change \(change.number)"])
        }
        if case .found(let change, let link, var notes) = found, !cis.isEmpty {
            // The change exists now: a failed association is reported, never a reason to fail (or re-create) it.
            do {
                try await client.addAffectedCIs(changeSysID: change.sysID, ciSysIDs: cis.map(\.sysID))
                notes.append("Associated affected CIs \(cis.map(\.name).joined(separator: ", ")) with \(change.number)")
            } catch {
                notes.append("Could not associate the affected CIs with \(change.number): \(error)")
            }
            found = .found(change, link, notes: notes)
        }
        return found
    }

    private func isAmbiguous(_ error: ServiceNowError) -> Bool {
        if case .ambiguousWrite = error { return true }
        return false
    }

    static func description(_ task: ActiveTask) -> String {
        """
        Deployment requested through changegate.
        Project: \(task.request.project)
        Release: \(task.request.release)
        Environment: \(task.request.environment)
        Requested by: \(task.request.requestedBy ?? "not given")
        changegate task: \(task.id)
        """
    }
}
