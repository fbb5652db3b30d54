import Foundation
import ServiceNowModel

/// A schedule entry as the control API gives it: UTC (or `time_zone`) times `YYYY-MM-DD HH:MM:SS`.
struct SpanInput: Sendable {
    var name: String
    var start: String
    var end: String
    var allDay = false
    var repeatType = ""
    var repeatCount = 1
    var daysOfWeek = ""
    var repeatUntil = ""

    /// `{"start","end","name"?,"all_day"?,"repeat"?,"repeat_every"?,"days_of_week"?: "135" | [1,3,5],"until"?}`.
    init(json o: JSONObject, defaultName: String) throws(ControlError) {
        func time(_ key: String) throws(ControlError) -> String {
            guard let text = o[key]?.stringValue, let w = ScheduleSpanRule.wallTime(text) else {
                throw ControlError(.badRequest, "\(key) must be YYYY-MM-DD HH:MM:SS")
            }
            return String(format: "%04d%02d%02dT%02d%02d%02d", w.year, w.month, w.day, w.hour, w.minute, w.second)
        }
        name = o["name"]?.stringValue ?? defaultName
        start = try time("start")
        end = try time("end")
        allDay = o["all_day"]?.boolValue ?? false
        let r = (o["repeat"]?.stringValue ?? "none").lowercased()
        guard let kind = ScheduleSpanRule.Repeat(rawValue: r) else {
            throw ControlError(.badRequest, "repeat must be one of " + ScheduleSpanRule.Repeat.allCases.map(\.rawValue).joined(separator: ", "))
        }
        repeatType = kind == .none ? "" : kind.rawValue
        repeatCount = max(1, o["repeat_every"]?.intValue ?? 1)
        if let days = o["days_of_week"] {
            daysOfWeek = days.arrayValue.map { $0.compactMap(\.intValue).map(String.init).joined() } ?? days.storedText ?? ""
        }
        if let until = o["until"] {
            guard let text = until.stringValue, let w = ScheduleSpanRule.wallTime(text) else {
                throw ControlError(.badRequest, "until must be YYYY-MM-DD")
            }
            repeatUntil = String(format: "%04d%02d%02d", w.year, w.month, w.day)
        }
        guard ScheduleSpanRule(start: start, end: end, allDay: allDay, repeatType: repeatType) != nil else {
            throw ControlError(.badRequest, "the entry \(name) has an unreadable start or end")
        }
    }

    var values: [String: String] {
        ["name": name, "start_date_time": start, "end_date_time": end, "all_day": allDay ? "true" : "false",
         "repeat_type": repeatType, "repeat_count": String(repeatCount), "days_of_week": daysOfWeek, "repeat_until": repeatUntil]
    }
}

extension SimulatorStore {
    // MARK: CIs

    func ci(named name: String) -> Row? { liveRows("cmdb_ci").first { $0["name"] == name } }

    /// A CI by sys_id or exact name.
    func ciSysID(_ key: String) -> String? {
        if isSysID(key), extraRow(table: "cmdb_ci", sysID: key) != nil { return key }
        return ci(named: key)?["sys_id"]
    }

    /// `POST /_sim/cis`: a CI, with a maintenance schedule of its own when spans are given.
    func createCI(name: String, maintenance: [SpanInput], timeZone: String) throws(ControlError) -> String {
        guard ci(named: name) == nil else { throw ControlError(.conflict, "a CI named \(name) exists already") }
        var values = ["name": name]
        if !maintenance.isEmpty {
            values["maintenance_schedule"] = createSchedule(name: "\(name) maintenance", type: "maintenance", spans: maintenance,
                                                            timeZone: timeZone, appliesTo: "", condition: "")
        }
        return insertNew(table: "cmdb_ci", values)
    }

    // MARK: Schedules

    func schedule(named name: String, type: String) -> Row? {
        liveRows("cmn_schedule").first { $0["name"] == name && $0["type"] == type }
    }

    @discardableResult
    func createSchedule(name: String, type: String, spans: [SpanInput], timeZone: String, appliesTo: String, condition: String) -> String {
        let id = insertNew(table: "cmn_schedule", [
            "name": name, "type": type, "sys_class_name": "cmn_schedule_\(type)", "time_zone": timeZone,
            "applies_to": appliesTo, "condition": condition,
        ])
        for span in spans { insertNew(table: "cmn_schedule_span", span.values.merging(["schedule": id, "type": type]) { _, n in n }) }
        return id
    }

    /// `POST /_sim/blackouts`: for every change, or (with `cis`) for changes touching one of those CIs.
    func createBlackout(name: String, spans: [SpanInput], cis: [String]?, timeZone: String) throws(ControlError) -> String {
        guard schedule(named: name, type: "blackout") == nil else { throw ControlError(.conflict, "a blackout named \(name) exists already") }
        var condition = ""
        if let cis {
            var ids: [String] = []
            for key in cis {
                guard let id = ciSysID(key) else { throw ControlError(.badRequest, "no CI \(key); create it with POST /_sim/cis") }
                ids.append(id)
            }
            guard !ids.isEmpty else { throw ControlError(.badRequest, "cis must name at least one CI (omit it for a blackout of every change)") }
            condition = "sys_idIN" + ids.joined(separator: ",")
        }
        return createSchedule(name: name, type: "blackout", spans: spans, timeZone: timeZone,
                              appliesTo: cis == nil ? "" : "cmdb_ci", condition: condition)
    }

    func deleteSchedule(name: String, type: String) throws(ControlError) {
        guard let id = schedule(named: name, type: type)?["sys_id"] else { throw ControlError(.notFound, "no \(type) schedule \(name)") }
        for span in rows("cmn_schedule_span", where: "schedule", is: id) { deleteRow(table: "cmn_schedule_span", sysID: span["sys_id"]!) }
        deleteRow(table: "cmn_schedule", sysID: id)
    }

    /// The entries of a schedule as rules; entries that cannot be read are left out.
    func rules(ofSchedule id: String) -> [ScheduleSpanRule] {
        let zone = extraRow(table: "cmn_schedule", sysID: id)?.0["time_zone"] ?? ""
        return rows("cmn_schedule_span", where: "schedule", is: id).compactMap { s in
            ScheduleSpanRule(start: s["start_date_time"] ?? "", end: s["end_date_time"] ?? "", allDay: s["all_day"] == "true",
                             repeatType: s["repeat_type"] ?? "", repeatCount: s["repeat_count"] ?? "1",
                             daysOfWeek: s["days_of_week"] ?? "", repeatUntil: s["repeat_until"] ?? "", timeZone: zone)
        }
    }

    // MARK: Which schedules apply

    /// The change's CIs: its `cmdb_ci` and its affected CIs (`task_ci`), as the advanced conflict mode checks them.
    func ciSysIDs(ofChange row: Row) -> [String] {
        let id = row.value("sys_id", in: cr)
        var out: [String] = []
        let primary = row.value("cmdb_ci", in: cr)
        if !primary.isEmpty { out.append(primary) }
        for r in rows("task_ci", where: "task", is: id) { if let ci = r["ci_item"], !out.contains(ci) { out.append(ci) } }
        return out
    }

    /// The CIs among `ciIDs` a blackout covers; every one of them when it applies to every change.
    func coveredCIs(by schedule: Row, among ciIDs: [String]) -> [String] {
        let appliesTo = schedule["applies_to"] ?? ""
        guard !appliesTo.isEmpty else { return ciIDs }
        let query = EncodedQuery(schedule["condition"] ?? "") { self.fieldSpec($0, in: Schemas.ci) }
        return ciIDs.filter { id in
            guard let (ci, schema) = extraRow(table: "cmdb_ci", sysID: id) else { return false }
            return query.matches { self.fieldValue(ci, $0, in: schema) }
        }
    }
}
