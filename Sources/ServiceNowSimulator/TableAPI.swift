import ServiceNowModel

/// `/api/now[/v1|/v2]/table/{table}[/{sys_id}]` for change_request, sysapproval_approver and sys_user.
/// Values are strings (`sysparm_display_value=false`), display strings (`true`) or both (`all`).
extension SimulatorCore {
    func tableAPI(_ call: HTTPCall, version: String?, _ rest: [String], user: SimulatorUser) async throws(APIError) -> Reply {
        let table = rest[0]
        guard let schema = Schemas.tables[table] else { throw .badRequest("Invalid table \(table)") }
        let id = rest.count > 1 ? rest[1] : nil
        let render = TableRendering(call)
        switch (call.method, id) {
        case (.get, nil):
            try requireRead(user)
            let paging = Paging(call)
            let query = call.param("sysparm_query") ?? ""
            let (records, total) = await store.isolated { s in
                let page = s.list(table: table, query: query, offset: paging.offset, limit: paging.limit)
                return (page.rows.map { JSON.object(render.record($0, schema, s)) }, page.total)
            }
            // v1 answers 404 when nothing matches; v2 (and the unversioned path, which is v2 now) answer [].
            if records.isEmpty, version == "v1" { throw .noRecord }
            return Reply(status: .ok, headers: paging.headers(call, total: total), body: JSON.obj(["result": .array(records)]).encoded())
        case (.get, let id?):
            try requireRead(user)
            guard let record = await store.isolated({ s in s.lookup(table: table, sysID: id).map { render.record($0.0, schema, s) } })
            else { throw .noRecord }
            return .json(.obj(["result": .object(record)]))
        case (.post, nil):
            guard table == "change_request" else { throw .acl("Insert") }
            try requireWrite(user, "Insert")
            var body = try call.writeBody()
            let typeText = body["type"]?.stringValue ?? "normal"
            body["type"] = nil
            guard let type = ChangeType(rawValue: typeText) else { throw .badRequest("Invalid type \(typeText)") }
            let fields = body
            let (sysID, record) = try await store.isolated { (s) throws(APIError) -> (String, JSONObject) in
                let (i, _) = try s.createChange(type: type, body: fields, by: user)
                return (s.changes[i]!.value("sys_id", in: schema), render.record(s.changes[i]!, schema, s))
            }
            return Reply(status: .created, headers: [("Location", "\(call.baseURL)/api/now/table/change_request/\(sysID)")],
                         body: JSON.obj(["result": .object(record)]).encoded())
        case (.patch, let id?), (.put, let id?):
            try requireWrite(user, "Update")
            let body = try call.writeBody()
            let record = try await store.isolated { (s) throws(APIError) -> JSONObject in
                switch table {
                case "change_request":
                    guard let i = s.changeIndex(sysID: id) else { throw .noRecord }
                    _ = try s.updateChange(at: i, body: body, by: user)
                    return render.record(s.changes[i]!, schema, s)
                case "sysapproval_approver":
                    guard let i = s.approvalBySysID[id] else { throw .noRecord }
                    let stateText = body["state"]?.stringValue ?? s.approvals[i]!.value("state", in: schema)
                    guard let state = ApproverState(rawValue: stateText) else { throw .badRequest("Invalid state \(stateText)") }
                    try s.updateApproverRow(i, state: state, comments: body["comments"]?.stringValue ?? "", by: user)
                    return render.record(s.approvals[i]!, schema, s)
                default:
                    throw .acl("Update")
                }
            }
            return .json(.obj(["result": .object(record)]))
        case (.delete, let id?):
            guard table == "change_request", user.canWrite, user.isChangeManager else { throw .acl("Delete") }
            try await store.isolated { (s) throws(APIError) in
                guard let i = s.changeIndex(sysID: id) else { throw .noRecord }
                s.deleteChange(at: i)
            }
            return .noContent()
        default:
            throw APIError(status: .methodNotAllowed, message: "Method not Supported",
                           detail: "\(call.method.rawValue) is not supported for this resource")
        }
    }
}

/// The Table API rendering options of one request.
struct TableRendering: Sendable {
    let mode: DisplayMode
    let excludeLinks: Bool
    let baseURL: String
    let fields: [String]?

    init(_ call: HTTPCall) {
        mode = DisplayMode(call.param("sysparm_display_value"))
        excludeLinks = call.param("sysparm_exclude_reference_link") == "true"
        baseURL = call.baseURL
        fields = call.fields
    }

    func record(_ row: Row, _ schema: TableSchema, _ store: isolated SimulatorStore) -> JSONObject {
        store.tableRecord(row, schema: schema, mode: mode, excludeLinks: excludeLinks, baseURL: baseURL, fields: fields)
    }
}
