import ServiceNowModel

/// Field writes parsed from an API body.
struct FieldWrites {
    var values: [String: String] = [:]
    var journal: [(field: String, text: String)] = []
    var state: ChangeState?
    var ignored: [String] = []
}

extension SimulatorStore {
    var cr: TableSchema { Schemas.changeRequest }

    /// Splits a JSON body into writable values, journal entries and a state move. Unknown, read-only or
    /// ill-typed fields are ignored and listed, as the Change API reports them in `__meta.ignoredFields`.
    func parseWrites(_ body: JSONObject, schema: TableSchema) throws(APIError) -> FieldWrites {
        var w = FieldWrites()
        for (key, json) in body.pairs {
            guard let spec = schema[key], spec.writable, let text = json.storedText else { w.ignored.append(key); continue }
            if schema.name == "change_request", key == "state" {
                guard let raw = Int(text) else { w.ignored.append(key); continue }
                guard let state = ChangeState(rawValue: raw) else {
                    throw .badRequest("Invalid state value", "\(raw) is not a change_request state")
                }
                w.state = state
                continue
            }
            switch spec.type {
            case .journal:
                if !text.isEmpty { w.journal.append((key, text)) }
            case .integer:
                if text.isEmpty || Int(text) != nil { w.values[key] = text } else { w.ignored.append(key) }
            case .boolean:
                if ["true", "false"].contains(text) { w.values[key] = text } else { w.ignored.append(key) }
            case .dateTime:
                if text.isEmpty { w.values[key] = "" } else if GlideClock.epoch(text) != nil, text.count == 19 {
                    w.values[key] = text
                } else { w.ignored.append(key) }
            case .reference(let table):
                w.values[key] = resolveReference(text, table: table)
            case .string:
                // correlation_id and correlation_display hold up to 100 characters; longer text is cut, silently.
                w.values[key] = key.hasPrefix("correlation_") ? String(text.prefix(100)) : text
            }
        }
        return w
    }

    /// References may be written as a sys_id or as the display value (a user's name, a group's name).
    func resolveReference(_ text: String, table: String) -> String {
        if text.isEmpty || isSysID(text) { return text }
        switch table {
        case "sys_user": return directory.user(named: text)?.sysID ?? text
        case "sys_user_group": return Reference.groups.first(where: { $0.name == text })?.sysID ?? text
        case "cmdb_ci": return ci(named: text)?["sys_id"] ?? text
        default: return text
        }
    }

    /// A new change with the fields every record gets on insert.
    func insertChange(type: ChangeType, by user: SimulatorUser, values: [String: String]) -> Int {
        let now = GlideClock.now()
        var row = Row(values: [
            "sys_id": newSysID(), "number": String(format: "CHG%07d", nextNumber), "type": type.rawValue,
            "chg_model": Reference.models[type.rawValue]?.sysID ?? "",
            "opened_by": user.sysID, "requested_by": user.sysID, "opened_at": now,
            "sys_created_on": now, "sys_updated_on": now, "sys_created_by": user.userName, "sys_updated_by": user.userName,
        ])
        nextNumber += 1
        for (k, v) in values { row[k] = v }
        appendChange(row)
        touch()
        return changes.count - 1
    }

    /// `POST /change/normal|emergency`, `POST /change/standard/{template}` and Table API inserts.
    func createChange(type: ChangeType, body: JSONObject, by user: SimulatorUser,
                      template: SimTemplate? = nil) throws(APIError) -> (index: Int, ignored: [String]) {
        let w = try parseWrites(body, schema: cr)
        var values = template?.fields ?? [:]
        if let template {
            values["std_change_producer_version"] = template.versionSysID
            // A standard change from a template is pre-approved (captured: changeStandardTemplateById.json).
            values["approval"] = ApprovalState.approved.rawValue
        }
        for (k, v) in w.values { values[k] = v }
        let approval = ApprovalState(rawValue: values["approval"] ?? "") ?? .notRequested
        if let target = w.state, let why = StateModel.refusal(
            number: String(format: "CHG%07d", nextNumber), type: type, from: .new, to: target,
            approval: approval, allowImplementToClosed: allowImplementToClosed) {
            throw .operationFailed(why)
        }
        let index = insertChange(type: type, by: user, values: values)
        appendJournal(index, w.journal, by: user)
        if let target = w.state, target != .new { enter(target, index: index, by: user) }
        return (index, w.ignored)
    }

    /// `PATCH /change/{sys_id}` and Table API updates: fields, journal entries and a checked state move,
    /// all or nothing.
    func updateChange(at index: Int, body: JSONObject, by user: SimulatorUser) throws(APIError) -> [String] {
        guard let row = changes[index] else { throw .noRecord }
        let w = try parseWrites(body, schema: cr)
        let from = state(of: row)
        if let target = w.state, let why = StateModel.refusal(
            number: row.value("number", in: cr), type: type(of: row), from: from, to: target,
            approval: approval(of: row), allowImplementToClosed: allowImplementToClosed) {
            throw .operationFailed(why)
        }
        for (k, v) in w.values { changes[index]![k] = v }
        appendJournal(index, w.journal, by: user)
        stamp(index, by: user)
        if let target = w.state, target != from { enter(target, index: index, by: user) }
        touch()
        return w.ignored
    }

    func appendJournal(_ index: Int, _ entries: [(field: String, text: String)], by user: SimulatorUser) {
        guard !entries.isEmpty else { return }
        let now = GlideClock.now()
        for e in entries {
            changes[index]!.journal.append(JournalEntry(field: e.field, at: now, author: user.name, text: e.text))
        }
        touch()
    }

    func stamp(_ index: Int, by user: SimulatorUser) {
        changes[index]!["sys_updated_on"] = GlideClock.now()
        changes[index]!["sys_updated_by"] = user.userName
    }

    /// Moves a change into `target` (already checked or forced) with what the instance's business rules do.
    func enter(_ target: ChangeState, index: Int, by user: SimulatorUser) {
        let now = GlideClock.now()
        let row = changes[index]!
        changes[index]!["state"] = String(target.rawValue)
        stamp(index, by: user)
        switch target {
        case .authorize:
            requestApprovals(index, by: user)
        case .implement:
            if row.value("work_start", in: cr).isEmpty { changes[index]!["work_start"] = now }
        case .review:
            if row.value("work_end", in: cr).isEmpty { changes[index]!["work_end"] = now }
        case .closed, .canceled:
            if row.value("work_end", in: cr).isEmpty, target == .closed { changes[index]!["work_end"] = now }
            changes[index]!["closed_at"] = now
            changes[index]!["closed_by"] = user.sysID
            if target == .canceled { closePendingApprovals(index, as: .notRequired, by: user) }
        default:
            break
        }
        let open = target != .closed && target != .canceled
        changes[index]!["active"] = open ? "true" : "false"
        changes[index]!["phase_state"] = open ? "open" : "closed"
        touch()
    }

    func state(of row: Row) -> ChangeState { ChangeState(rawValue: Int(row.value("state", in: cr)) ?? -5) ?? .new }
    func type(of row: Row) -> ChangeType { ChangeType(rawValue: row.value("type", in: cr)) ?? .normal }
    func approval(of row: Row) -> ApprovalState { ApprovalState(rawValue: row.value("approval", in: cr)) ?? .notRequested }
}
