import ServiceNowModel

/// Operations behind the control API (`/_sim/...`): what a person does in the ServiceNow UI.
extension SimulatorStore {
    /// The person at the keyboard: System Administrator (admin), or the first user if the seed lacks one.
    var uiUser: SimulatorUser { directory.usersByUserName["admin"] ?? directory.users[0] }

    /// `POST /_sim/changes`: a change typed in by hand. No state-path check; defaults follow the state.
    func createByHand(_ body: JSONObject) throws(ControlError) -> Int {
        guard let title = body["short_description"]?.stringValue, !title.isEmpty else {
            throw ControlError(.badRequest, "short_description is required")
        }
        let typeText = body["type"]?.stringValue ?? "normal"
        guard let type = ChangeType(rawValue: typeText) else {
            throw ControlError(.badRequest, "type must be normal, standard or emergency, not \(typeText)")
        }
        var target = ChangeState.new
        if let s = body["state"] {
            guard let raw = s.intValue, let state = ChangeState(rawValue: raw) else {
                throw ControlError(.badRequest, "state must be one of -5,-4,-3,-2,-1,0,3,4")
            }
            target = state
        }
        var approval: ApprovalState?
        if let a = body["approval"] {
            guard let text = a.stringValue, let value = ApprovalState(rawValue: text) else {
                throw ControlError(.badRequest, "approval must be one of: not requested, requested, approved, rejected")
            }
            approval = value
        }
        var values = ["short_description": title]
        for key in ["description", "correlation_id", "correlation_display", "start_date", "end_date"] {
            guard let v = body[key] else { continue }
            guard let text = v.stringValue else { throw ControlError(.badRequest, "\(key) must be a string") }
            if key.hasSuffix("_date"), !text.isEmpty, GlideClock.epoch(text) == nil || text.count != 19 {
                throw ControlError(.badRequest, "\(key) must be YYYY-MM-DD HH:MM:SS (UTC), not \(text)")
            }
            values[key] = text
        }
        if let key = body["cmdb_ci"]?.stringValue {
            guard let id = ciSysID(key) else { throw ControlError(.badRequest, "no CI \(key); create it with POST /_sim/cis") }
            values["cmdb_ci"] = id
        }
        if type == .standard || StateModel.requiresApproval(target) { values["approval"] = ApprovalState.approved.rawValue }
        let index = insertChange(type: type, by: uiUser, values: values)
        if target != .new { enter(target, index: index, by: uiUser) }
        if let approval { changes[index]!["approval"] = approval.rawValue }
        // A change last edited long ago, for delta reads (`sys_updated_on>=…`) that must not depend on real time.
        if let v = body["sys_updated_on"] {
            guard let text = v.stringValue, GlideClock.epoch(text) != nil, text.count == 19 else {
                throw ControlError(.badRequest, "sys_updated_on must be YYYY-MM-DD HH:MM:SS (UTC)")
            }
            changes[index]!["sys_updated_on"] = text
        }
        touch()
        return index
    }

    /// `POST /_sim/changes/{number}/state`.
    func forceByHand(_ index: Int, _ body: JSONObject) throws(ControlError) {
        var window: [String: String] = [:]
        for key in ["start_date", "end_date"] {
            guard let v = body[key] else { continue }
            guard let text = v.stringValue, text.isEmpty || (GlideClock.epoch(text) != nil && text.count == 19) else {
                throw ControlError(.badRequest, "\(key) must be YYYY-MM-DD HH:MM:SS (UTC)")
            }
            window[key] = text
        }
        var target: ChangeState?
        if let s = body["state"] {
            guard let raw = s.intValue, let state = ChangeState(rawValue: raw) else {
                throw ControlError(.badRequest, "state must be one of -5,-4,-3,-2,-1,0,3,4")
            }
            target = state
        }
        guard target != nil || !window.isEmpty else { throw ControlError(.badRequest, "give state and/or start_date, end_date") }
        for (k, v) in window { changes[index]![k] = v }
        stamp(index, by: uiUser)
        if let target { forceState(index, to: target, by: uiUser) }
        touch()
    }

    /// `POST /_sim/changes/{number}/approve|reject` acting as the named approver.
    func decideByHand(_ index: Int, approve: Bool, _ body: JSONObject) throws(ControlError) {
        guard let name = body["approver"]?.stringValue, let approver = directory.user(named: name) else {
            throw ControlError(.badRequest, "approver must name a user, e.g. \"Alice Approver\"")
        }
        let comments = body["comments"]?.stringValue ?? ""
        if !approve, comments.isEmpty { throw ControlError(.badRequest, "comments are required to reject") }
        do {
            try decide(index, approver: approver, approve: approve, comments: comments, by: approver)
        } catch {
            throw ControlError(.conflict, error.detail ?? error.message)
        }
    }

    /// The flat record the control API answers with.
    func plainRecord(_ index: Int) -> JSON {
        guard let row = changes[index] else { return .null }
        func v(_ f: String) -> JSON { .string(row.value(f, in: cr)) }
        let state = state(of: row)
        let notes: [JSON] = row.journal.filter { $0.field == "work_notes" }.map {
            .obj(["at": .string($0.at), "author": .string($0.author), "text": .string($0.text)])
        }
        let approvers: [JSON] = approvalRows(ofChange: row.value("sys_id", in: cr)).map { (_, a) in
            .obj(["name": .string(referenceDisplay(table: "sys_user", sysID: a.value("approver", in: Schemas.approver))),
                  "state": .string(a.value("state", in: Schemas.approver)),
                  "comments": .string(a.journal.last?.text ?? "")])
        }
        return .obj([
            "sys_id": v("sys_id"), "number": v("number"), "type": v("type"), "state": .int(state.rawValue),
            "state_name": .string(state.displayName), "approval": v("approval"),
            "short_description": v("short_description"), "description": v("description"),
            "correlation_id": v("correlation_id"), "start_date": v("start_date"), "end_date": v("end_date"),
            "close_code": v("close_code"), "close_notes": v("close_notes"), "work_notes": .array(notes),
            "approvers": .array(approvers), "sys_created_on": v("sys_created_on"), "sys_updated_on": v("sys_updated_on"),
        ])
    }

    func plainRecords(correlationID: String?, shortDescription: String?) -> [JSON] {
        changes.indices.filter { i in
            guard let row = changes[i] else { return false }
            if let correlationID, row.value("correlation_id", in: cr) != correlationID { return false }
            if let shortDescription, row.value("short_description", in: cr) != shortDescription { return false }
            return true
        }.map(plainRecord)
    }
}
