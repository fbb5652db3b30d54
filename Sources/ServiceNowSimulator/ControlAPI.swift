import Foundation
import ServiceNowModel

/// `/_sim/...`: the control API for tests and demos. No auth, JSON in and out, never faulted or counted.
extension SimulatorCore {
    func control(_ call: HTTPCall) async -> Reply {
        do {
            return try await controlRoute(call)
        } catch let e as ControlError {
            return .control(e)
        } catch {
            return .control(ControlError(.internalServerError, "\(error)"))
        }
    }

    private func controlRoute(_ call: HTTPCall) async throws -> Reply {
        let s = Array(call.segments.dropFirst())
        switch (call.method, s) {
        case (.get, ["health"]):
            return .json(.obj(["ok": .bool(true)]))
        case (.post, ["changes"]):
            let body = try call.controlObject()
            let record = try await store.isolated { (st) throws(ControlError) -> JSON in st.plainRecord(try st.createByHand(body)) }
            return .json(record)
        case (.get, ["changes"]):
            let correlation = call.param("correlation_id")
            let title = call.param("short_description")
            let records = await store.isolated { st in st.plainRecords(correlationID: correlation, shortDescription: title) }
            return .json(.obj(["changes": .array(records)]))
        case (.get, let path) where path.count == 2 && path[0] == "changes":
            let key = path[1]
            return .json(try await store.isolated { (st) throws(ControlError) -> JSON in st.plainRecord(try Self.index(st, key)) })
        case (.post, let path) where path.count == 3 && path[0] == "changes" && ["state", "approve", "reject"].contains(path[2]):
            let body = try call.controlObject()
            let (key, action) = (path[1], path[2])
            let record = try await store.isolated { (st) throws(ControlError) -> JSON in
                let i = try Self.index(st, key)
                switch action {
                case "state": try st.forceByHand(i, body)
                default: try st.decideByHand(i, approve: action == "approve", body)
                }
                return st.plainRecord(i)
            }
            return .json(record)
        case (.post, ["templates"]):
            return try await addTemplate(call.controlObject())
        case (.get, ["templates"]):
            let list = await store.isolated { st in st.templates.map(Self.templateSummary) }
            return .json(.obj(["templates": .array(list)]))
        case (.get, ["faults"]):
            return .json(await faults.faults.json)
        case (.put, ["faults"]):
            let set = try FaultSet(json: call.controlObject())
            await faults.set(set)
            await tokens.setRevocationSchedule(every: set.revokeTokensEvery)
            return .json(set.json)
        case (.delete, ["faults"]):
            await clearFaults()
            return .json(FaultSet().json)
        case (.post, ["tokens", "revoke"]):
            await tokens.revokeAll()
            return .json(.obj(["revoked": .bool(true)]))
        case (.post, ["webhooks"]):
            try await webhooks.register(call.controlObject(), store: store)
            return .json(await webhooks.json)
        case (.get, ["webhooks"]):
            return .json(await webhooks.json)
        case (.delete, ["webhooks"]):
            await webhooks.clear()
            return .json(await webhooks.json)
        case (.get, ["requests"]):
            return .json(await recorder.json)
        case (.delete, ["requests"]):
            await recorder.reset()
            return .json(.obj(["total": .int(0)]))
        case (.post, ["reset"]):
            await store.reset()
            await recorder.reset()
            await clearFaults()
            return .json(.obj(["ok": .bool(true)]))
        default:
            if let reply = try await scheduleControl(call, s) { return reply }
            throw ControlError(.notFound, "no control endpoint \(call.method.rawValue) \(call.path)")
        }
    }

    private func clearFaults() async {
        await faults.set(FaultSet())
        await tokens.setRevocationSchedule(every: nil)
    }

    private static func index(_ store: isolated SimulatorStore, _ key: String) throws(ControlError) -> Int {
        guard let i = store.changeIndex(key: key) else { throw ControlError(.notFound, "no change \(key)") }
        return i
    }

    private func addTemplate(_ body: JSONObject) async throws -> Reply {
        guard let name = body["name"]?.stringValue, !name.isEmpty else { throw ControlError(.badRequest, "name is required") }
        var fields: [String: String] = [:]
        if let given = body["fields"] {
            guard let o = given.objectValue else { throw ControlError(.badRequest, "fields must be an object") }
            for (k, v) in o.pairs {
                guard Schemas.changeRequest[k] != nil, let text = v.storedText else {
                    throw ControlError(.badRequest, "fields.\(k) is not a change_request field with a text value")
                }
                fields[k] = text
            }
        }
        let short = body["short_description"]?.stringValue
        let fieldValues = fields
        let t = await store.isolated { st in st.addTemplate(name: name, shortDescription: short, fields: fieldValues) }
        return .json(Self.templateSummary(t))
    }

    private static func templateSummary(_ t: SimTemplate) -> JSON {
        .obj(["sys_id": .string(t.sysID), "name": .string(t.name), "short_description": .string(t.shortDescription),
              "version_sys_id": .string(t.versionSysID), "active": .bool(t.active),
              "fields": .object(JSONObject(t.fields.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))])
    }
}
