import ServiceNowModel

/// `sysparm_display_value`: false (raw strings), true (display strings) or all (both).
enum DisplayMode: Sendable {
    case value, display, all

    init(_ text: String?) {
        switch text?.lowercased() {
        case "true": self = .display
        case "all": self = .all
        default: self = .value
        }
    }
}

/// How records are turned into JSON for each API.
extension SimulatorStore {
    func displayValue(_ spec: FieldSpec, _ row: Row, schema: TableSchema) -> String {
        let raw = row.value(spec)
        switch spec.type {
        case .journal: return journalText(row, field: spec.name, table: schema.name)
        case .reference(let table): return raw.isEmpty ? "" : referenceDisplay(table: table, sysID: raw)
        case .dateTime: return raw.isEmpty ? spec.emptyDisplay : clock.display(raw)
        default: return raw.isEmpty ? spec.emptyDisplay : spec.choices[raw] ?? raw
        }
    }

    func referenceDisplay(table: String, sysID: String) -> String {
        switch table {
        case "sys_user": return directory.usersBySysID[sysID]?.name ?? sysID
        case "sys_user_group": return Reference.groups.first(where: { $0.sysID == sysID })?.name ?? sysID
        case "task", "change_request": return changeBySysID[sysID].flatMap { changes[$0]?["number"] } ?? sysID
        case "std_change_producer_version": return templates.first(where: { $0.versionSysID == sysID })?.versionName ?? sysID
        case "chg_model": return Reference.models.values.first(where: { $0.sysID == sysID })?.name ?? sysID
        default: return extraRow(table: table, sysID: sysID).map { $0.0.value("name", in: $0.1) } ?? sysID
        }
    }

    /// A journal as the form shows it: newest first, `YYYY-MM-DD HH:MM:SS - Author (Work notes)\ntext\n\n`.
    func journalText(_ row: Row, field: String, table: String) -> String {
        let wanted: Set<String> = field == "comments_and_work_notes" ? ["comments", "work_notes"] : [field]
        return row.journal.reversed().filter { wanted.contains($0.field) }.map { e in
            let label = e.field == "work_notes" ? "Work notes" : table == "sysapproval_approver" ? "Comments" : "Additional comments"
            return "\(clock.display(e.at)) - \(e.author) (\(label))\n\(e.text)\n\n"
        }.joined()
    }

    /// The field set a response carries: the schema's, or `sysparm_fields` (unknown names dropped, dot-walks kept).
    func selectedFields(_ requested: [String]?, schema: TableSchema) -> [String] {
        guard let requested else { return schema.fieldNames }
        return requested.filter { fieldSpec($0, in: schema) != nil }
    }

    /// The row and spec a (possibly dot-walked) field reads from.
    func resolve(_ row: Row, _ path: String, in schema: TableSchema) -> (Row, FieldSpec, TableSchema)? {
        guard let dot = path.firstIndex(of: ".") else { return schema[path].map { (row, $0, schema) } }
        let head = String(path[..<dot])
        guard let ref = schema[head]?.referencedTable,
              let (target, targetSchema) = lookup(table: ref, sysID: row.value(head, in: schema)) else { return nil }
        return resolve(target, String(path[path.index(after: dot)...]), in: targetSchema)
    }

    /// Change API shape: every field `{"display_value","value"}` with JSON-typed values; dates add
    /// `display_value_internal` (captured: getNormalChangeRequestById.json).
    func changeAPIRecord(_ row: Row, fields: [String]? = nil) -> JSONObject {
        var out = JSONObject()
        for name in selectedFields(fields, schema: cr) {
            guard let (r, spec, schema) = resolve(row, name, in: cr) else {
                out.append(name, .obj(["display_value": .string(""), "value": .string("")]))
                continue
            }
            let raw = r.value(spec)
            let display = displayValue(spec, r, schema: schema)
            let typed: JSON = switch spec.type {
            case .integer: Int(raw).map(JSON.int) ?? .string(raw)
            case .boolean: raw == "true" ? .bool(true) : raw == "false" ? .bool(false) : .string(raw)
            case .journal: .string("")
            default: .string(raw)
            }
            var field = JSONObject([("display_value", .string(display)), ("value", typed)])
            if spec.type == .dateTime { field.append("display_value_internal", .string(raw.isEmpty ? "" : display)) }
            out.append(name, .object(field))
        }
        return out
    }

    /// Table API shape for one row, per `sysparm_display_value` and `sysparm_exclude_reference_link`.
    func tableRecord(_ row: Row, schema: TableSchema, mode: DisplayMode, excludeLinks: Bool, baseURL: String,
                     fields: [String]? = nil) -> JSONObject {
        var out = JSONObject()
        for name in selectedFields(fields, schema: schema) {
            guard let (r, spec, s) = resolve(row, name, in: schema) else { out.append(name, .string("")); continue }
            let raw = spec.type == .journal ? "" : r.value(spec)
            let display = displayValue(spec, r, schema: s)
            let link: String? = spec.referencedTable.flatMap { t in
                raw.isEmpty || excludeLinks ? nil : "\(baseURL)/api/now/table/\(t)/\(raw)"
            }
            switch mode {
            case .value:
                out.append(name, link.map { .obj(["link": .string($0), "value": .string(raw)]) } ?? .string(raw))
            case .display:
                out.append(name, link.map { .obj(["display_value": .string(display), "link": .string($0)]) } ?? .string(display))
            case .all:
                var o = JSONObject([("display_value", .string(display)), ("value", .string(raw))])
                if let link { o.append("link", .string(link)) }
                out.append(name, .object(o))
            }
        }
        return out
    }

    /// A template in the captured `std_change_record_producer` shape, with its own values.
    func templateRecord(_ t: SimTemplate) -> JSONObject {
        var o = TemplateShape.base
        func set(_ key: String, _ value: String, _ display: String? = nil) {
            o[key] = .obj(["display_value": .string(display ?? value), "value": .string(value)])
        }
        func setDate(_ key: String, _ value: String) {
            let d = clock.display(value)
            o[key] = .obj(["display_value": .string(d), "value": .string(value), "display_value_internal": .string(d)])
        }
        set("sys_id", t.sysID)
        set("name", t.name)
        set("sys_name", t.name)
        set("short_description", t.shortDescription)
        set("template", t.templateSysID, String(t.name.prefix(40)))
        set("current_version", t.versionSysID, t.versionName)
        set("category", t.categorySysID, t.categoryName)
        set("sys_created_by", t.createdBy)
        set("script", "current.std_change_producer_version= \"\(t.versionSysID)\"; current.type= \"standard\";")
        set("preview", "JavaScript: popupOpenStandard(\"com.glideapp.servicecatalog_cat_item_view.do?v=1&sysparm_id=\(t.sysID)&sysparm_preview=true\", \"summary\");")
        o["active"] = .obj(["display_value": .string(t.active ? "true" : "false"), "value": .bool(t.active)])
        setDate("sys_created_on", t.createdOn)
        setDate("sys_updated_on", t.updatedOn)
        return o
    }
}
