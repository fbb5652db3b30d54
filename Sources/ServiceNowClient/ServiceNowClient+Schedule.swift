import Foundation
import ServiceNowModel

// The schedule-aware gate's calls: the instance's conflict check, blackout schedules, CIs and affected CIs.
extension ServiceNowClient {
    static let tableAPI = "/api/now/table"

    /// Starts the instance's conflict check (`POST …/change/{sys_id}/conflict`). Repeating it only restarts the
    /// check, so a lost answer is retried like a read. Without a CI or planned dates the instance refuses (400).
    public func runConflictCheck(sysID: String) async throws(ServiceNowError) {
        let request = APIRequest(method: .POST, path: "\(Self.changeAPI)/\(Transport.escape(sysID))/conflict", kind: .read,
                                 operation: "start the conflict check of change \(sysID)")
        try await send(request) { _ throws(DecodingProblem) in () }
    }

    /// The conflict check's report (`GET …/change/{sys_id}/conflict`); `inProgress` while the instance still runs it.
    public func conflictReport(sysID: String) async throws(ServiceNowError) -> ConflictReport {
        let request = APIRequest(method: .GET, path: "\(Self.changeAPI)/\(Transport.escape(sysID))/conflict", kind: .read,
                                 operation: "conflict report of change \(sysID)")
        return try await send(request) { r throws(DecodingProblem) in try RecordDecoding.conflictReport(try Self.json(r)) }
    }

    /// Spans of the blackout schedules that apply to the change, overlapping `from…to`, repeats expanded, sorted.
    /// A blackout applies to every change when its `applies_to` is empty; otherwise when one of the change's CIs
    /// (`cmdb_ci` and the affected CIs in `task_ci`) matches its condition, which the instance itself evaluates.
    public func blackoutSpans(changeSysID: String, from: Date, to: Date) async throws(ServiceNowError) -> [BlackoutSpan] {
        guard isSysIDText(changeSysID) else { throw .notFound(connection: name, what: "change request with sys_id \(changeSysID)") }
        let cis = try await ciSysIDs(ofChange: changeSysID)
        let schedules = try await tableRows("cmn_schedule_blackout", query: "", fields: "sys_id,name,time_zone,applies_to,condition",
                                            operation: "blackout schedules")
        var applying: [String: (name: String, zone: String)] = [:]
        for s in schedules {
            guard let id = s["sys_id"], isSysIDText(id) else { continue }
            if try await applies(appliesTo: s["applies_to"] ?? "", condition: s["condition"] ?? "", to: cis) {
                applying[id] = (s["name"] ?? id, s["time_zone"] ?? "")
            }
        }
        guard !applying.isEmpty else { return [] }
        let spans = try await tableRows("cmn_schedule_span", query: "scheduleIN" + applying.keys.sorted().joined(separator: ","),
                                        fields: "schedule,name,start_date_time,end_date_time,all_day,repeat_type,repeat_count,days_of_week,repeat_until",
                                        operation: "blackout schedule entries")
        var out: [BlackoutSpan] = []
        for span in spans {
            guard let schedule = applying[span["schedule"] ?? ""] else { continue }
            guard let rule = ScheduleSpanRule(start: span["start_date_time"] ?? "", end: span["end_date_time"] ?? "",
                                              allDay: span["all_day"] == "true", repeatType: span["repeat_type"] ?? "",
                                              repeatCount: span["repeat_count"] ?? "", daysOfWeek: span["days_of_week"] ?? "",
                                              repeatUntil: span["repeat_until"] ?? "", timeZone: schedule.zone) else {
                // Guessing could let a deployment run inside a blackout: refuse instead, naming the entry.
                throw .malformedResponse(connection: name, endpoint: "GET \(Self.tableAPI)/cmn_schedule_span",
                                         reason: "blackout schedule '\(schedule.name)' has an entry changegate cannot expand "
                                            + "(start '\(span["start_date_time"] ?? "")', repeat '\(span["repeat_type"] ?? "")'); simplify the entry or exclude it")
            }
            for o in rule.occurrences(overlapping: from, to) { out.append(BlackoutSpan(schedule: schedule.name, start: o.start, end: o.end)) }
        }
        return out.sorted { ($0.start, $0.schedule) < ($1.start, $1.schedule) }
    }

    /// A configuration item by sys_id (32 hex) or by exact name; nil when there is none. A name shared by several
    /// CIs is refused: changegate would not know which one the change touches.
    public func configurationItem(_ nameOrSysID: String) async throws(ServiceNowError) -> ConfigurationItem? {
        let key = nameOrSysID.trimmingCharacters(in: .whitespaces)
        guard !key.isEmpty else { return nil }
        if isSysIDText(key) {
            let request = APIRequest(method: .GET, path: "\(Self.tableAPI)/cmdb_ci/\(key)", query: [("sysparm_fields", "sys_id,name")],
                                     kind: .read, operation: "configuration item \(key)")
            do {
                return try await send(request) { r throws(DecodingProblem) in
                    guard let first = try RecordDecoding.records(in: try Self.json(r)).first else { throw DecodingProblem(reason: "empty result") }
                    return try RecordDecoding.configurationItem(first)
                }
            } catch .notFound {
                // Fall through: a CI may be named like a sys_id.
            }
        }
        let clause = QueryEncoding.isSafe(key) ? "name=\(key)" : QueryEncoding.longestSafeSegment(key).map { "nameLIKE\($0)" } ?? ""
        var found: [ConfigurationItem] = []
        do {
            try await pageThrough(path: "\(Self.tableAPI)/cmdb_ci", query: clause, pageSize: Self.searchPageSize,
                                  extra: [("sysparm_fields", "sys_id,name")], operation: "configuration item named '\(key)'",
                                  decode: RecordDecoding.configurationItem) { page in
                found += page.filter { $0.name == key }
                return found.count > 1
            }
        } catch .notFound {
            return nil
        }
        guard found.count <= 1 else {
            throw .badRequest(connection: name, message: "more than one configuration item is named '\(key)'",
                              detail: "name the CI by its sys_id (\(found.map(\.sysID).joined(separator: ", ")))")
        }
        return found.first
    }

    /// Adds affected CIs (`POST …/change/{sys_id}/ci`, `association_type` affected) and waits for the instance's
    /// worker. CIs already associated are fine; unknown CIs, or a change past New (the instance adds affected CIs
    /// only then), are errors. Associating twice is harmless, so a lost answer is retried.
    public func addAffectedCIs(changeSysID: String, ciSysIDs: [String]) async throws(ServiceNowError) {
        guard !ciSysIDs.isEmpty else { return }
        let body = #"{"association_type":"affected","cmdb_ci_sys_ids":"\#(ciSysIDs.joined(separator: ","))"}"#
        guard ciSysIDs.allSatisfy(isSysIDText) else {
            throw .badRequest(connection: name, message: "affected CIs must be given by sys_id", detail: ciSysIDs.joined(separator: ","))
        }
        let request = APIRequest(method: .POST, path: "\(Self.changeAPI)/\(Transport.escape(changeSysID))/ci", body: body,
                                 contentType: "application/json", kind: .read, operation: "add affected CIs to change \(changeSysID)")
        var worker = try await send(request) { r throws(DecodingProblem) in try RecordDecoding.worker(try Self.json(r)) }
        var delay = Duration.milliseconds(50)
        let deadline = ContinuousClock.now + configuration.requestTimeout * 3
        while !worker.finished {
            guard ContinuousClock.now < deadline else { throw .timeout(connection: name) }
            do { try await Task.sleep(for: delay) } catch { throw .cancelled(connection: name) }
            delay = min(delay * 2, .seconds(1))
            let poll = APIRequest(method: .GET, path: "\(Self.changeAPI)/worker/\(Transport.escape(worker.sysID))", kind: .read,
                                  operation: "worker \(worker.sysID) adding affected CIs to change \(changeSysID)")
            worker = try await send(poll) { r throws(DecodingProblem) in try RecordDecoding.worker(try Self.json(r)) }
        }
        let problems = worker.errors + worker.warnings
        guard problems.isEmpty else {
            throw .badRequest(connection: name, message: "the instance did not add the affected CIs to change \(changeSysID)",
                              detail: problems.joined(separator: "; "))
        }
    }

    // MARK: helpers

    func isSysIDText(_ s: String) -> Bool {
        s.utf8.count == 32 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// The change's `cmdb_ci` and affected CIs.
    func ciSysIDs(ofChange sysID: String) async throws(ServiceNowError) -> [String] {
        let request = APIRequest(method: .GET, path: "\(Self.tableAPI)/change_request/\(sysID)",
                                 query: [("sysparm_fields", "cmdb_ci"), ("sysparm_exclude_reference_link", "true")],
                                 kind: .read, operation: "change request with sys_id \(sysID)")
        let primary = try await send(request) { r throws(DecodingProblem) in
            try RecordDecoding.records(in: try Self.json(r)).first?["cmdb_ci"]?.fieldValue ?? ""
        }
        var out = primary.isEmpty ? [] : [primary]
        for row in try await tableRows("task_ci", query: "task=\(sysID)", fields: "ci_item", operation: "affected CIs of change \(sysID)") {
            if let ci = row["ci_item"], !ci.isEmpty, !out.contains(ci) { out.append(ci) }
        }
        return out
    }

    /// Whether a blackout with this `applies_to` and condition covers one of `cis`; the instance evaluates the
    /// condition (the clause naming the CIs is added to each OR'd part of it).
    func applies(appliesTo: String, condition: String, to cis: [String]) async throws(ServiceNowError) -> Bool {
        if appliesTo.isEmpty { return true }
        guard !cis.isEmpty else { return false }
        // A table name that could not be a table is not sent; the blackout then counts as applying.
        guard appliesTo.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return true }
        let pin = "sys_idIN" + cis.joined(separator: ",")
        let query = condition.isEmpty ? pin : condition.components(separatedBy: "^NQ").map { "\($0)^\(pin)" }.joined(separator: "^NQ")
        let rows = try await tableRows(appliesTo, query: query, fields: "sys_id", operation: "CIs a blackout applies to", limit: 1)
        return rows.contains { cis.contains($0["sys_id"] ?? "") }
    }

    /// Raw field values of Table API rows (`[]` for v1's 404 on an empty list).
    func tableRows(_ table: String, query: String, fields: String, operation: String, limit: Int = .max) async throws(ServiceNowError) -> [[String: String]] {
        var rows: [[String: String]] = []
        do {
            try await pageThrough(path: "\(Self.tableAPI)/\(table)", query: query, pageSize: min(limit, Self.searchPageSize),
                                  extra: [("sysparm_fields", fields), ("sysparm_exclude_reference_link", "true")], operation: operation,
                                  decode: { r throws(DecodingProblem) in r.compactMapValues(\.fieldValue) }) { page in
                rows += page
                return rows.count >= limit
            }
        } catch .notFound {
            return []
        }
        return rows
    }
}
