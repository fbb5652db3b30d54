import Foundation
import ServiceNowModel

/// A running or finished conflict check. It runs "in the background" as on the instance: it finishes at `due`,
/// settled by the next request (`settleJobs`), so no task outlives a request.
struct ConflictJob: Sendable {
    var id: String
    var startedAt: String
    var due: Date
    var done = false
    var checked = 0
}

extension SimulatorStore {
    /// `POST …/change/{sys_id}/conflict`. The instance needs a CI and both planned dates; without them the check
    /// cannot start (400).
    func startConflictCheck(_ index: Int) throws(APIError) -> String {
        guard let row = changes[index] else { throw .noRecord }
        var missing: [String] = []
        if ciSysIDs(ofChange: row).isEmpty { missing.append("a Configuration item (cmdb_ci) or affected CIs") }
        if row.value("start_date", in: cr).isEmpty { missing.append("a Planned start date") }
        if row.value("end_date", in: cr).isEmpty { missing.append("a Planned end date") }
        guard missing.isEmpty else {
            throw .badRequest("Conflict checking could not start", "The change request needs " + missing.joined(separator: ", "))
        }
        let id = newSysID()
        conflictJobs[row.value("sys_id", in: cr)] = ConflictJob(id: id, startedAt: GlideClock.now(), due: Date().addingTimeInterval(jobDuration))
        touch()
        return id
    }

    /// `DELETE …/conflict`: stops a running check; its results are cleared and the status is Not Run.
    func cancelConflictCheck(_ index: Int) throws(APIError) {
        let id = changes[index]!.value("sys_id", in: cr)
        guard let job = conflictJobs[id], !job.done else {
            throw .badRequest("Cancel request failed", "No conflict check is running for this change request")
        }
        conflictJobs[id] = nil
        for r in rows("conflict", where: "change", is: id) { deleteRow(table: "conflict", sysID: r["sys_id"]!) }
        setChangeFields(index, ["conflict_status": "Not Run"])
    }

    /// Finishes the checks and workers whose time has come.
    func settleJobs(now: Date = Date()) {
        for (changeID, job) in conflictJobs where !job.done && job.due <= now {
            guard let i = changeBySysID[changeID], changes[i] != nil else { conflictJobs[changeID] = nil; continue }
            finishConflictCheck(i, job)
        }
        for (id, worker) in workers where worker.state < 3 && worker.due <= now { finishWorker(id) }
    }

    private func finishConflictCheck(_ index: Int, _ job: ConflictJob) {
        let row = changes[index]!
        let id = row.value("sys_id", in: cr)
        for r in rows("conflict", where: "change", is: id) { deleteRow(table: "conflict", sysID: r["sys_id"]!) }
        let (found, outside) = findConflicts(row)
        for values in found {
            insertNew(table: "conflict", values.merging(["change": id, "last_checked": job.startedAt]) { _, n in n }, by: "system")
        }
        var done = job
        done.done = true
        done.checked = ciSysIDs(ofChange: row).count
        conflictJobs[id] = done
        setChangeFields(index, ["conflict_status": found.isEmpty ? "No Conflict" : "Conflict", "conflict_last_run": job.startedAt,
                                "outside_maintenance_schedule": outside ? "true" : "false"])
    }

    /// Field writes made by the instance itself (the conflict detection flow runs as the system user).
    func setChangeFields(_ index: Int, _ values: [String: String]) {
        for (k, v) in values { changes[index]![k] = v }
        changes[index]!["sys_updated_on"] = GlideClock.now()
        changes[index]!["sys_updated_by"] = "system"
        touch()
    }

    /// Blackouts over the planned window, CIs whose maintenance schedule does not hold the whole window, and other
    /// active changes on the same CI whose windows overlap (touching windows do not: contiguous changes are allowed).
    func findConflicts(_ row: Row) -> (conflicts: [[String: String]], outsideMaintenance: Bool) {
        guard let s = GlideClock.epoch(row.value("start_date", in: cr)), let e = GlideClock.epoch(row.value("end_date", in: cr)), e > s
        else { return ([], false) }
        let from = Date(timeIntervalSince1970: Double(s)), to = Date(timeIntervalSince1970: Double(e))
        let cis = ciSysIDs(ofChange: row)
        var out: [[String: String]] = []
        for schedule in liveRows("cmn_schedule") where schedule["type"] == "blackout" {
            let covered = coveredCIs(by: schedule, among: cis)
            let id = schedule["sys_id"]!
            guard !covered.isEmpty, rules(ofSchedule: id).contains(where: { !$0.occurrences(overlapping: from, to, limit: 1).isEmpty }) else { continue }
            for ci in covered { out.append(["type": "blackout", "configuration_item": ci, "schedule": id]) }
        }
        var outside = false
        for ci in cis {
            guard let schedule = extraRow(table: "cmdb_ci", sysID: ci)?.0["maintenance_schedule"], !schedule.isEmpty else { continue }
            if !Self.covers(rules(ofSchedule: schedule).flatMap { $0.occurrences(overlapping: from, to) }, from, to) {
                outside = true
                out.append(["type": "not_in_maintenance_window", "configuration_item": ci, "schedule": schedule])
            }
        }
        let id = row.value("sys_id", in: cr)
        var affected: [String: [String]] = [:]
        for r in liveRows("task_ci") { if let t = r["task"], let c = r["ci_item"] { affected[t, default: []].append(c) } }
        for case let other? in changes where other.value("sys_id", in: cr) != id && other.value("active", in: cr) == "true" {
            let otherID = other.value("sys_id", in: cr)
            guard let os = GlideClock.epoch(other.value("start_date", in: cr)), let oe = GlideClock.epoch(other.value("end_date", in: cr)),
                  os < e, oe > s else { continue }
            let otherCIs = Set([other.value("cmdb_ci", in: cr)] + (affected[otherID] ?? []))
            for ci in cis where otherCIs.contains(ci) {
                out.append(["type": "ci_already_scheduled", "configuration_item": ci, "conflicting_change": otherID])
            }
        }
        return (out, outside)
    }

    /// Whether the (possibly back-to-back) occurrences together hold all of from…to.
    static func covers(_ spans: [DateInterval], _ from: Date, _ to: Date) -> Bool {
        var reached = from
        for span in spans.sorted(by: { $0.start < $1.start }) where span.start <= reached {
            reached = max(reached, span.end)
            if reached >= to { return true }
        }
        return reached >= to
    }

    /// `GET …/conflict`. As documented, `status` reads "Conflict" once a check has run, with or without conflicts:
    /// only `conflicts` tells them apart (the change's own `conflict_status` does say "No Conflict").
    func conflictReport(_ index: Int) -> JSON {
        let row = changes[index]!
        let id = row.value("sys_id", in: cr)
        let job = conflictJobs[id]
        let running = job.map { !$0.done } ?? false
        let lastRun = row.value("conflict_last_run", in: cr)
        let records: [JSON] = running ? [] : rows("conflict", where: "change", is: id).map { .object(apiRecord($0, Schemas.conflict)) }
        let status = row.value("conflict_status", in: cr) == "Not Run" ? "Not Run" : "Conflict"
        return .obj(["result": .obj([
            "status": .string(status), "last_run": .string(lastRun), "record_count": .string(String(job?.checked ?? 0)),
            "job_status": .string(running ? "1" : job == nil ? "" : "2"), "conflicts": .array(records),
        ])])
    }

    /// A row of any table in the Change API's `{"display_value","value"}` shape.
    func apiRecord(_ row: Row, _ schema: TableSchema) -> JSONObject {
        var out = JSONObject()
        for spec in schema.fields {
            out.append(spec.name, .obj(["display_value": .string(displayValue(spec, row, schema: schema)), "value": .string(row.value(spec))]))
        }
        return out
    }
}
