import ServiceNowModel

/// `/api/sn_chg_rest[/v1]/change/...`: the Change Management API. Values are JSON-typed
/// `{"display_value","value"}` pairs; single records are `{"result":{…}}`, lists `{"result":[…]}`.
extension SimulatorCore {
    func changeAPI(_ call: HTTPCall, _ rest: [String], user: SimulatorUser) async throws(APIError) -> Reply {
        let types = ChangeType.allCases.map(\.rawValue)
        switch (call.method, rest.count) {
        case (.get, 0):
            return try await changeList(call, type: nil, user: user)
        case (.post, 0):
            return try await createChange(call, type: .normal, user: user)
        case (.get, 1) where types.contains(rest[0]):
            return try await changeList(call, type: ChangeType(rawValue: rest[0]), user: user)
        case (.post, 1) where rest[0] == "normal" || rest[0] == "emergency":
            return try await createChange(call, type: ChangeType(rawValue: rest[0])!, user: user)
        case (.get, 2) where rest == ["standard", "template"]:
            try requireRead(user)
            let query = call.param("sysparm_query") ?? ""
            let records = await store.isolated { s in s.templates(query: query).map { JSON.object(s.templateRecord($0)) } }
            return Reply(status: .ok, headers: [("X-Total-Count", String(records.count))],
                         body: JSON.obj(["result": .array(records)]).encoded())
        case (.get, 3) where rest[0] == "standard" && rest[1] == "template":
            try requireRead(user)
            let id = rest[2]
            guard let record = await store.isolated({ s in s.template(sysID: id).map { s.templateRecord($0) } }) else { throw .noRecord }
            return .json(.obj(["result": .object(record)]))
        case (.post, 2) where rest[0] == "standard":
            let id = rest[1]
            guard let template = await store.isolated({ s in s.template(sysID: id) }), template.active else { throw .noRecord }
            return try await createChange(call, type: .standard, user: user, template: template)
        case (_, 2) where rest[1] == "conflict":
            return try await conflictAPI(call, sysID: rest[0], user: user)
        case (.post, 2) where rest[1] == "ci":
            return try await associateCIs(call, sysID: rest[0], user: user)
        case (.get, 2) where rest[0] == "worker":
            return try await worker(call, id: rest[1], user: user)
        case (_, 1):
            return try await changeRecord(call, sysID: rest[0], type: nil, user: user)
        case (_, 2) where types.contains(rest[0]):
            return try await changeRecord(call, sysID: rest[1], type: ChangeType(rawValue: rest[0]), user: user)
        case (.get, 2) where rest[1] == "nextstates":
            try requireRead(user)
            return try await nextStates(rest[0])
        case (.patch, 2) where rest[1] == "approvals":
            return try await approve(call, sysID: rest[0], user: user)
        default:
            throw .noResource
        }
    }

    func requireRead(_ user: SimulatorUser) throws(APIError) { if !user.canRead { throw .acl("Read") } }
    func requireWrite(_ user: SimulatorUser, _ operation: String) throws(APIError) { if !user.canWrite { throw .acl(operation) } }

    private func changeList(_ call: HTTPCall, type: ChangeType?, user: SimulatorUser) async throws(APIError) -> Reply {
        try requireRead(user)
        let paging = Paging(call)
        let query = call.param("sysparm_query") ?? ""
        let fields = call.fields
        // Name=value parameters filter too (`?correlation_id=abc`), as the Change API allows.
        var filters = call.query.filter { !$0.0.hasPrefix("sysparm_") }
        if let type { filters.append(("type", type.rawValue)) }
        let pairs = filters
        let (records, total) = await store.isolated { s in
            let page = s.list(table: "change_request", query: query, filters: pairs, offset: paging.offset, limit: paging.limit)
            return (page.rows.map { JSON.object(s.changeAPIRecord($0, fields: fields)) }, page.total)
        }
        return Reply(status: .ok, headers: paging.headers(call, total: total), body: JSON.obj(["result": .array(records)]).encoded())
    }

    private func createChange(_ call: HTTPCall, type: ChangeType, user: SimulatorUser,
                              template: SimTemplate? = nil) async throws(APIError) -> Reply {
        try requireWrite(user, "Insert")
        let body = try call.writeBody()
        let fields = call.fields
        let record = try await store.isolated { (s) throws(APIError) -> JSONObject in
            let (index, ignored) = try s.createChange(type: type, body: body, by: user, template: template)
            var record = s.changeAPIRecord(s.changes[index]!, fields: fields)
            record.append("__meta", .obj(["ignoredFields": .array(ignored.map(JSON.string))]))
            return record
        }
        return .json(.obj(["result": .object(record)]))
    }

    private func changeRecord(_ call: HTTPCall, sysID: String, type: ChangeType?, user: SimulatorUser) async throws(APIError) -> Reply {
        let fields = call.fields
        switch call.method {
        case .get:
            try requireRead(user)
            let record = await store.isolated { s -> JSONObject? in
                guard let i = s.changeIndex(sysID: sysID), let row = s.changes[i], type == nil || s.type(of: row) == type else { return nil }
                return s.changeAPIRecord(row, fields: fields)
            }
            guard let record else { throw .noRecord }
            return .json(.obj(["result": .object(record)]))
        case .patch, .put:
            try requireWrite(user, "Update")
            let body = try call.writeBody()
            let record = try await store.isolated { (s) throws(APIError) -> JSONObject in
                guard let i = s.changeIndex(sysID: sysID), let row = s.changes[i], type == nil || s.type(of: row) == type else {
                    throw .noRecord
                }
                let ignored = try s.updateChange(at: i, body: body, by: user)
                var record = s.changeAPIRecord(s.changes[i]!, fields: fields)
                record.append("__meta", .obj(["ignoredFields": .array(ignored.map(JSON.string))]))
                return record
            }
            return .json(.obj(["result": .object(record)]))
        case .delete:
            guard user.canWrite, user.isChangeManager else { throw .acl("Delete") }
            try await store.isolated { (s) throws(APIError) in
                guard let i = s.changeIndex(sysID: sysID) else { throw .noRecord }
                s.deleteChange(at: i)
            }
            return .noContent()
        default:
            throw .noResource
        }
    }

    /// The current state, the states the model leads to, and (as model-driven changes answer) each transition with
    /// whether it is available now and its conditions.
    private func nextStates(_ sysID: String) async throws(APIError) -> Reply {
        let (from, transitions) = try await store.isolated { (s) throws(APIError) -> (ChangeState, [StateModel.Transition]) in
            guard let i = s.changeIndex(sysID: sysID), let row = s.changes[i] else { throw .noRecord }
            let from = s.state(of: row)
            return (from, StateModel.transitions(number: row.value("number", in: s.cr), type: s.type(of: row), from: from,
                                                 approval: s.approval(of: row), allowImplementToClosed: s.allowImplementToClosed))
        }
        let states = [from] + transitions.map(\.to)
        let labels = JSONObject(states.map { (String($0.rawValue), .string($0.displayName)) })
        let groups: [JSON] = transitions.map { t in
            let conditions: [JSON] = t.conditions.map { c in
                .obj(["passed": .bool(c.passed), "condition": .obj(["name": .string(c.name), "description": .null,
                                                                    "sys_id": .string(stableSysID("condition " + c.name))])])
            }
            return .array([.obj([
                "sys_id": .string(stableSysID("transition \(from.rawValue) \(t.to.rawValue)")),
                "display_value": .string("\(from.displayName) to \(t.to.displayName)"),
                "from_state": .string(String(from.rawValue)), "to_state": .string(String(t.to.rawValue)),
                "transition_available": .bool(t.available), "automatic_transition": .bool(t.automatic),
                "conditions": .array(conditions),
            ])])
        }
        return .json(.obj(["result": .obj([
            "available_states": .array(states.map { .string(String($0.rawValue)) }),
            "state_transitions": .array(groups),
            "state_label": .object(labels),
        ])]))
    }

    private func approve(_ call: HTTPCall, sysID: String, user: SimulatorUser) async throws(APIError) -> Reply {
        try requireWrite(user, "Update")
        let body = try call.jsonObject()
        guard let decision = body["state"]?.stringValue, decision == "approved" || decision == "rejected" else {
            throw .badRequest("Invalid approval state", "state must be \"approved\" or \"rejected\"")
        }
        let comments = body["comments"]?.stringValue ?? ""
        let record = try await store.isolated { (s) throws(APIError) -> JSONObject in
            guard let i = s.changeIndex(sysID: sysID) else { throw .noRecord }
            try s.decideAsCaller(i, approve: decision == "approved", comments: comments, by: user)
            return s.changeAPIRecord(s.changes[i]!)
        }
        return .json(.obj(["result": .object(record)]))
    }
}
