import Foundation
import ServiceNowModel

/// A Change Management worker (`chg_mgt_worker`) associating CIs with a change: accepted at once (202), done a
/// moment later, read with `GET …/change/worker/{sys_id}`.
struct SimWorker: Sendable {
    var id: String
    var changeSysID: String
    var type: String
    var ciIDs: [String]
    var request: String
    var due: Date
    /// 1 Waiting, 2 In-Progress, 3 Complete, 4 Error.
    var state = 1
    var errors: [String] = []
    var warnings: [String] = []
    var infos: [String] = []
    var ignored: [String] = []

    static let stateNames = [1: "Waiting", 2: "In-Progress", 3: "Complete", 4: "Error"]
}

extension SimulatorStore {
    /// `POST …/change/{sys_id}/ci` `{"cmdb_ci_sys_ids": "a,b" | [..], "association_type": "affected"}`.
    func startCIAssociation(_ index: Int, body: JSONObject) throws(APIError) -> String {
        let changeID = changes[index]!.value("sys_id", in: cr)
        guard let type = body["association_type"]?.stringValue, ["affected", "impacted", "offering"].contains(type) else {
            throw .badRequest("Invalid association_type", "association_type is required: affected, impacted or offering")
        }
        let ids: [String]
        if let list = body["cmdb_ci_sys_ids"]?.arrayValue {
            ids = list.compactMap(\.stringValue)
        } else {
            ids = (body["cmdb_ci_sys_ids"]?.stringValue ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        guard !ids.isEmpty, ids.allSatisfy({ !$0.isEmpty }) else {
            throw .badRequest("Invalid cmdb_ci_sys_ids", "cmdb_ci_sys_ids is required: a list or comma-separated string of CI sys_ids")
        }
        let request = JSON.obj(["cmdb_ci_sys_ids": .array(ids.map(JSON.string)), "association_type": .string(type),
                                "task": .string(changeID)]).encodedString()
        let id = newSysID()
        workers[id] = SimWorker(id: id, changeSysID: changeID, type: type, ciIDs: ids, request: request,
                                due: Date().addingTimeInterval(jobDuration))
        touch()
        return id
    }

    /// The worker does its job: affected CIs become `task_ci` rows. As documented, affected CIs can be added only
    /// while the change is New; impacted services and offerings are not simulated.
    func finishWorker(_ id: String) {
        guard var w = workers[id] else { return }
        defer { workers[id] = w; touch() }
        guard let i = changeBySysID[w.changeSysID], let row = changes[i] else {
            w.state = 4
            w.errors.append("Change request \(w.changeSysID) no longer exists")
            return
        }
        guard w.type == "affected" else {
            w.state = 4
            w.errors.append("association_type \(w.type) is not simulated")
            return
        }
        guard state(of: row) == .new else {
            w.state = 4
            w.errors.append("Affected CIs can be added only when the change request is in the New state (it is \(state(of: row).displayName))")
            return
        }
        let existing = Set(rows("task_ci", where: "task", is: w.changeSysID).compactMap { $0["ci_item"] })
        for ci in w.ciIDs {
            if extraRow(table: "cmdb_ci", sysID: ci) == nil {
                w.warnings.append("Invalid CMDB_CI sys_id provided: \(ci)")
                w.ignored.append(ci)
            } else if existing.contains(ci) {
                w.infos.append("CMDB_CI sys_id \(ci) already associated")
                w.ignored.append(ci)
            } else {
                insertNew(table: "task_ci", ["task": w.changeSysID, "ci_item": ci])
            }
        }
        w.state = 3
    }

    func workerJSON(_ w: SimWorker, baseURL: String) -> JSON {
        .obj(["result": .obj([
            "worker": .obj(["sysId": .string(w.id), "link": .string("\(baseURL)/api/sn_chg_rest/change/worker/\(w.id)")]),
            "request": .string(w.request),
            "state": .obj(["value": .int(w.state), "display_value": .string(SimWorker.stateNames[w.state] ?? "")]),
            "type": .string(w.type),
            "messages": .obj(["errorMessages": .array(w.errors.map(JSON.string)), "warningMessages": .array(w.warnings.map(JSON.string)),
                              "infoMessages": .array(w.infos.map(JSON.string))]),
            "ignored_cmdb_ci_sys_ids": .array(w.ignored.map(JSON.string)),
        ])])
    }
}
