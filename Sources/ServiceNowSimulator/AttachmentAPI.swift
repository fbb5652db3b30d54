import HTTPTypes

/// `/api/now[/v1]/attachment…`: upload a raw file, list metadata, download, delete.
extension SimulatorCore {
    func attachmentAPI(_ call: HTTPCall, _ rest: [String], user: SimulatorUser) async throws(APIError) -> Reply {
        switch (call.method, rest) {
        case (.post, ["file"]):
            try requireWrite(user, "Insert")
            var missing: [String] = []
            for p in ["table_name", "table_sys_id", "file_name"] where (call.param(p) ?? "").isEmpty { missing.append(p) }
            if call.contentType.isEmpty { missing.append("the Content-Type header") }
            guard missing.isEmpty else { throw .badRequest("Missing parameter", "Required: " + missing.joined(separator: ", ")) }
            let fault = await faults.attachmentFault()
            if fault == .fail { throw Self.uploadFault }
            let (table, id, name) = (call.param("table_name")!, call.param("table_sys_id")!, call.param("file_name")!)
            let (type, data, base) = (call.headers[.contentType] ?? "", call.body, call.baseURL)
            let record = try await store.isolated { (s) throws(APIError) -> JSONObject in
                s.attachmentRecord(try s.addAttachment(table: table, tableSysID: id, fileName: name, contentType: type, data: data, by: user),
                                   baseURL: base)
            }
            // Stored, but the answer is lost: the caller cannot tell whether the upload happened.
            if fault == .failAfterStore { throw Self.uploadFault }
            let location = "\(base)/api/now/attachment/\(record["sys_id"]?.stringValue ?? "")"
            return Reply(status: .created, headers: [("Location", location)], body: JSON.obj(["result": .object(record)]).encoded())
        case (.get, []):
            try requireRead(user)
            let paging = Paging(call, defaultLimit: 1000)
            let query = call.param("sysparm_query") ?? ""
            let base = call.baseURL
            let (records, total) = await store.isolated { s in
                let page = s.list(table: "sys_attachment", query: query, offset: paging.offset, limit: paging.limit)
                return (page.rows.map { JSON.object(s.attachmentRecord($0, baseURL: base)) }, page.total)
            }
            return Reply(status: .ok, headers: paging.headers(call, total: total), body: JSON.obj(["result": .array(records)]).encoded())
        case (.get, let path) where path.count == 1 || (path.count == 2 && path[1] == "file"):
            try requireRead(user)
            let (id, base) = (path[0], call.baseURL)
            guard let (record, data) = await store.isolated({ s in
                s.extraRow(table: "sys_attachment", sysID: id).map { (s.attachmentRecord($0.0, baseURL: base), s.attachmentData[id] ?? []) }
            }) else { throw .noRecord }
            if path.count == 1 { return .json(.obj(["result": .object(record)])) }
            return Reply(status: .ok, body: data, contentType: record["content_type"]?.stringValue ?? "application/octet-stream")
        case (.delete, let path) where path.count == 1:
            try requireWrite(user, "Delete")
            let id = path[0]
            try await store.isolated { (s) throws(APIError) in try s.deleteAttachment(id) }
            return .noContent()
        default:
            throw .noResource
        }
    }

    static let uploadFault = APIError(status: .internalServerError, message: "Failed to create the attachment",
                                      detail: "The instance could not store the file (fault injected by the simulator)")
}
