import Foundation

/// `/_sim/cis`, `/_sim/blackouts`, `/_sim/properties`: set up what an administrator configures on the instance.
extension SimulatorCore {
    func scheduleControl(_ call: HTTPCall, _ s: [String]) async throws -> Reply? {
        switch (call.method, s) {
        case (.post, ["cis"]):
            let body = try call.controlObject()
            guard let name = body["name"]?.stringValue, !name.isEmpty else { throw ControlError(.badRequest, "name is required") }
            let spans = try Self.spans(body["maintenance"], name: "\(name) maintenance window", required: false)
            let zone = body["time_zone"]?.stringValue ?? "UTC"
            let record = try await store.isolated { (st) throws(ControlError) -> JSON in
                st.ciSummary(try st.createCI(name: name, maintenance: spans, timeZone: zone))
            }
            return .json(record)
        case (.get, ["cis"]):
            return .json(.obj(["cis": .array(await store.isolated { st in st.liveRows("cmdb_ci").map { st.ciSummary($0["sys_id"]!) } })]))
        case (.post, ["blackouts"]):
            let body = try call.controlObject()
            guard let name = body["name"]?.stringValue, !name.isEmpty else { throw ControlError(.badRequest, "name is required") }
            // One entry from the top-level fields, or several under "spans".
            let spans = body["spans"] != nil ? try Self.spans(body["spans"], name: name, required: true)
                : [try SpanInput(json: body, defaultName: name)]
            var cis: [String]?
            if let list = body["cis"] {
                guard let names = list.arrayValue?.compactMap(\.stringValue) else { throw ControlError(.badRequest, "cis must be a list of CI names or sys_ids") }
                cis = names
            }
            let zone = body["time_zone"]?.stringValue ?? "UTC"
            let chosen = cis
            let record = try await store.isolated { (st) throws(ControlError) -> JSON in
                st.scheduleSummary(try st.createBlackout(name: name, spans: spans, cis: chosen, timeZone: zone))
            }
            return .json(record)
        case (.get, ["blackouts"]):
            return .json(.obj(["blackouts": .array(await store.isolated { st in
                st.liveRows("cmn_schedule").filter { $0["type"] == "blackout" }.map { st.scheduleSummary($0["sys_id"]!) }
            })]))
        case (.delete, let path) where path.count == 2 && path[0] == "blackouts":
            let name = path[1]
            try await store.isolated { (st) throws(ControlError) in try st.deleteSchedule(name: name, type: "blackout") }
            return .json(.obj(["deleted": .string(name)]))
        case (.get, ["properties"]):
            return .json(await store.isolated { st in st.propertiesJSON })
        case (.put, ["properties"]):
            let body = try call.controlObject()
            for key in body.keys where key != "com.glide.attachment.max_size" {
                throw ControlError(.badRequest, "unknown property \(key); known: com.glide.attachment.max_size (MB)")
            }
            if let v = body["com.glide.attachment.max_size"] {
                guard let mb = v.doubleValue, mb >= 0 else { throw ControlError(.badRequest, "com.glide.attachment.max_size is a size in MB") }
                await store.isolated { st in st.attachmentMaxBytes = Int(mb * Double(1 << 20)) }
            }
            return .json(await store.isolated { st in st.propertiesJSON })
        default:
            return nil
        }
    }

    private static func spans(_ json: JSON?, name: String, required: Bool) throws(ControlError) -> [SpanInput] {
        guard let json else {
            if required { throw ControlError(.badRequest, "spans must be a list of {start, end, ...}") }
            return []
        }
        guard let list = json.arrayValue else { throw ControlError(.badRequest, "spans must be a list of {start, end, ...}") }
        var out: [SpanInput] = []
        for (i, item) in list.enumerated() {
            guard let o = item.objectValue else { throw ControlError(.badRequest, "entry \(i) must be an object {start, end, ...}") }
            out.append(try SpanInput(json: o, defaultName: list.count == 1 ? name : "\(name) \(i + 1)"))
        }
        return out
    }
}

extension SimulatorStore {
    func ciSummary(_ id: String) -> JSON {
        let row = extraRow(table: "cmdb_ci", sysID: id)?.0 ?? Row(values: [:])
        let schedule = row["maintenance_schedule"] ?? ""
        return .obj(["sys_id": .string(id), "name": .string(row["name"] ?? ""), "maintenance_schedule": .string(schedule),
                     "maintenance": schedule.isEmpty ? .null : scheduleSummary(schedule)])
    }

    func scheduleSummary(_ id: String) -> JSON {
        let row = extraRow(table: "cmn_schedule", sysID: id)?.0 ?? Row(values: [:])
        let spans: [JSON] = rows("cmn_schedule_span", where: "schedule", is: id).map { span in
            .object(JSONObject(Schemas.span.fieldNames.map { ($0, JSON.string(span.value($0, in: Schemas.span))) }))
        }
        return .obj(["sys_id": .string(id), "name": .string(row["name"] ?? ""), "type": .string(row["type"] ?? ""),
                     "time_zone": .string(row["time_zone"] ?? ""), "applies_to": .string(row["applies_to"] ?? ""),
                     "condition": .string(row["condition"] ?? ""), "spans": .array(spans)])
    }

    var propertiesJSON: JSON {
        .obj(["com.glide.attachment.max_size": .double(Double(attachmentMaxBytes) / Double(1 << 20))])
    }
}
