import ServiceNowModel

/// The Change API's conflict check, CI association and worker endpoints.
extension SimulatorCore {
    func conflictAPI(_ call: HTTPCall, sysID: String, user: SimulatorUser) async throws(APIError) -> Reply {
        switch call.method {
        case .post:
            try requireWrite(user, "Insert")
            let id = try await store.isolated { (s) throws(APIError) -> String in
                guard let i = s.changeIndex(sysID: sysID) else { throw .noRecord }
                return try s.startConflictCheck(i)
            }
            return .json(.obj(["result": .string(id)]))
        case .get:
            try requireRead(user)
            return .json(try await store.isolated { (s) throws(APIError) -> JSON in
                guard let i = s.changeIndex(sysID: sysID) else { throw .noRecord }
                return s.conflictReport(i)
            })
        case .delete:
            try requireWrite(user, "Delete")
            try await store.isolated { (s) throws(APIError) in
                guard let i = s.changeIndex(sysID: sysID) else { throw .noRecord }
                try s.cancelConflictCheck(i)
            }
            return Reply(status: .ok, contentType: nil)
        default:
            throw .noResource
        }
    }

    func associateCIs(_ call: HTTPCall, sysID: String, user: SimulatorUser) async throws(APIError) -> Reply {
        try requireWrite(user, "Insert")
        let body = try call.jsonObject()
        let base = call.baseURL
        let json = try await store.isolated { (s) throws(APIError) -> JSON in
            guard let i = s.changeIndex(sysID: sysID) else { throw .noRecord }
            let id = try s.startCIAssociation(i, body: body)
            return s.workerJSON(s.workers[id]!, baseURL: base)
        }
        return .json(json, status: .accepted)
    }

    func worker(_ call: HTTPCall, id: String, user: SimulatorUser) async throws(APIError) -> Reply {
        try requireRead(user)
        let base = call.baseURL
        guard let json = await store.isolated({ s in s.workers[id].map { s.workerJSON($0, baseURL: base) } }) else { throw .noRecord }
        return .json(json)
    }
}
