import Foundation
import NIOHTTP1
import ServiceNowModel

extension ServiceNowClient {
    static let changeAPI = "/api/sn_chg_rest/change"
    /// Page size of `searchChanges` and template lookups.
    static let searchPageSize = 250
    /// The fields a `ChangeSnapshot` reads. Sent as `sysparm_fields` on reads to cut answers ~10×; an instance
    /// that ignores the parameter just sends every field.
    static let snapshotFields = [("sysparm_fields", "sys_id,number,state,approval,type,start_date,end_date,short_description,correlation_id,sys_updated_on")]

    /// One change by sys_id; `notFound` when there is none (or an ACL hides it).
    public func change(sysID: String) async throws(ServiceNowError) -> ChangeSnapshot {
        let request = APIRequest(method: .GET, path: "\(Self.changeAPI)/\(Transport.escape(sysID))", query: Self.snapshotFields, kind: .read,
                                 operation: "change request with sys_id \(sysID)")
        return try await send(request) { r throws(DecodingProblem) in try Self.singleChange(r) }
    }

    /// One change by number (`CHG0030011`); nil when there is none. A number that could not be a
    /// ServiceNow number (holds `^`, `,` or control characters) matches nothing, without a request.
    public func change(number: String) async throws(ServiceNowError) -> ChangeSnapshot? {
        let number = number.trimmingCharacters(in: .whitespaces)
        guard QueryEncoding.isSafe(number, inList: true) else { return nil }
        return try await searchChanges(ChangeQuery().number(.equals(number)), limit: 1).first
    }

    /// Changes matching `query`, at most `limit`, paging through the answer (`sysparm_limit`/`sysparm_offset`,
    /// until `X-Total-Count` or an empty page). Every clause is also checked on the client; a clause that could not
    /// be sent (see `ChangeQuery`) widens the server-side search, which then pages until `limit` matches are found.
    public func searchChanges(_ query: ChangeQuery, limit: Int = 1000) async throws(ServiceNowError) -> [ChangeSnapshot] {
        guard limit > 0, !query.matchesNothing else { return [] }
        if query.isWidened {
            logger.debug("servicenow query widened; filtering on the client", metadata: ["query": "\(query.encodedQuery)"])
        }
        let pageSize = query.isWidened ? Self.searchPageSize : min(limit, Self.searchPageSize)
        // Pages of an unordered query may overlap or skip rows; order by number unless the caller chose an order.
        let ordered = query.hasOrdering ? query : query.orderBy(.number)
        var found: [ChangeSnapshot] = []
        try await pageThrough(path: Self.changeAPI, query: ordered.encodedQuery, pageSize: pageSize, extra: Self.snapshotFields,
                              operation: "search for change requests", decode: RecordDecoding.change) { changes in
            for change in changes where query.matches(change) {
                found.append(change)
                if found.count >= limit { return true }
            }
            return false
        }
        return found
    }

    /// Creates a normal or emergency change with the given field values (`short_description`, `correlation_id`, …).
    /// Not retried after an ambiguous failure: `ambiguousWrite` means look it up by correlation id first.
    public func createChange(_ type: ChangeType, fields: [String: String]) async throws(ServiceNowError) -> ChangeSnapshot {
        guard type != .standard else {
            throw .badRequest(connection: name, message: "a standard change is created from a template", detail: "use createStandardChange(templateSysID:fields:)")
        }
        return try await write(.POST, "\(Self.changeAPI)/\(type.rawValue)", fields, operation: "create a \(type.rawValue) change")
    }

    /// Finds an active standard change template by exact name; nil when there is none.
    public func standardTemplate(named templateName: String) async throws(ServiceNowError) -> StandardChangeTemplate? {
        var clause = "name=\(templateName)"
        if !QueryEncoding.isSafe(templateName) {
            clause = QueryEncoding.longestSafeSegment(templateName).map { "nameLIKE\($0)" } ?? ""
        }
        let query = ["active=true", clause].filter { !$0.isEmpty }.joined(separator: "^")
        var match: StandardChangeTemplate?
        try await pageThrough(path: "\(Self.changeAPI)/standard/template", query: query, pageSize: Self.searchPageSize,
                              extra: [], operation: "standard change template '\(templateName)'", decode: RecordDecoding.template) { templates in
            match = templates.first { $0.name == templateName }
            return match != nil
        }
        return match
    }

    /// Creates a standard change from a template (it starts pre-approved). Not retried after an ambiguous failure.
    public func createStandardChange(templateSysID: String, fields: [String: String]) async throws(ServiceNowError) -> ChangeSnapshot {
        try await write(.POST, "\(Self.changeAPI)/standard/\(Transport.escape(templateSysID))", fields,
                        operation: "create a standard change from template \(templateSysID)")
    }

    /// Updates a change (state, work notes, close code and notes, other fields) and returns it as it is now.
    /// Not retried after an ambiguous failure (a work note would be written twice).
    public func updateChange(sysID: String, _ update: ChangeUpdate) async throws(ServiceNowError) -> ChangeSnapshot {
        let fields = update.fields
        guard !fields.isEmpty else { return try await change(sysID: sysID) }
        return try await write(.PATCH, "\(Self.changeAPI)/\(Transport.escape(sysID))", fields,
                               operation: "update change request \(sysID)")
    }

    /// The states the change may move to now (`/nextstates`): the answer lists the current state too, and for
    /// model-driven changes transitions whose conditions do not hold yet; both are left out. A type-driven change's
    /// answer does not say which state is current, so the change is read once for it.
    public func nextStates(sysID: String) async throws(ServiceNowError) -> [ChangeState] {
        let request = APIRequest(method: .GET, path: "\(Self.changeAPI)/\(Transport.escape(sysID))/nextstates", kind: .read,
                                 operation: "change request with sys_id \(sysID)")
        let body = try await send(request) { r throws(DecodingProblem) in
            let body = try Self.json(r)
            _ = try RecordDecoding.nextStates(body)
            return body
        }
        let hasFrom = (body["result"]?["state_transitions"]?.arrayValue ?? []).flatMap { $0.arrayValue ?? [$0] }
            .contains { $0["from_state"]?.fieldValue != nil }
        var current: ChangeState?
        if !hasFrom { current = try await change(sysID: sysID).state }
        return (try? RecordDecoding.nextStateMoves(body, current: current)) ?? []
    }

    /// Who was asked to approve the change and what they decided (Table API `sysapproval_approver`, with
    /// display values for the approvers' names).
    public func approvers(ofChange sysID: String) async throws(ServiceNowError) -> [ApproverRecord] {
        guard QueryEncoding.isSafe(sysID, inList: true) else {
            throw .notFound(connection: name, what: "change request with sys_id \(sysID)")
        }
        var rows: [ApproverRecord] = []
        do {
            try await pageThrough(path: "/api/now/table/sysapproval_approver", query: "sysapproval=\(sysID)", pageSize: Self.searchPageSize,
                                  extra: [("sysparm_display_value", "all"),
                                          ("sysparm_fields", "sys_id,approver,state,comments,sys_updated_on")],
                                  operation: "approvals of change \(sysID)", decode: RecordDecoding.approver) { page in
                rows += page
                return false
            }
        } catch .notFound {
            // Table API v1 answers 404 "No Record found" for an empty list.
            return []
        }
        return rows
    }

    /// The instance's clock (`Date` header of a cheap authenticated call), for clock-skew checks; nil if absent.
    public func serverDate() async throws(ServiceNowError) -> Date? {
        let request = APIRequest(method: .GET, path: Self.changeAPI,
                                 query: [("sysparm_query", "sys_idISEMPTY"), ("sysparm_limit", "1")],
                                 kind: .read, operation: "read the server date")
        return try await send(request) { r throws(DecodingProblem) in
            r.headers.first(name: "Date").flatMap(HTTPDate.parse)
        }
    }

    // MARK: helpers

    /// POST or PATCH a JSON object of fields to the Change API, decoding the change it answers with.
    func write(_ method: HTTPMethodName, _ path: String, _ fields: [String: String], operation: String) async throws(ServiceNowError) -> ChangeSnapshot {
        let body: String
        do {
            body = String(decoding: try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]), as: UTF8.self)
        } catch {
            throw .badRequest(connection: name, message: "field values cannot be sent as JSON", detail: nil)
        }
        let request = APIRequest(method: method.nio, path: path, body: body, contentType: "application/json", kind: .write, operation: operation)
        let (change, ignored) = try await send(request) { r throws(DecodingProblem) in
            let records = try RecordDecoding.records(in: try Self.json(r))
            guard let first = records.first else { throw DecodingProblem(reason: "empty result") }
            return (try RecordDecoding.change(first), RecordDecoding.ignoredFields(first))
        }
        if !ignored.isEmpty {
            logger.warning("servicenow ignored fields", metadata: ["operation": "\(operation)", "fields": "\(ignored.joined(separator: ","))"])
        }
        return change
    }

    /// GETs pages of `path` until `consume` says stop, a page comes back empty, or `X-Total-Count` is reached.
    /// Records are decoded inside the retry loop, so a damaged page is fetched again.
    func pageThrough<T>(path: String, query: String, pageSize: Int, extra: [(String, String)], operation: String,
                        decode: ([String: JSONValue]) throws(DecodingProblem) -> T,
                        consume: ([T]) -> Bool) async throws(ServiceNowError) {
        var offset = 0
        while true {
            var params: [(String, String)] = []
            if !query.isEmpty { params.append(("sysparm_query", query)) }
            params += [("sysparm_limit", String(pageSize)), ("sysparm_offset", String(offset))] + extra
            let request = APIRequest(method: .GET, path: path, query: params, kind: .read, operation: operation)
            let (items, total) = try await send(request) { r throws(DecodingProblem) in
                var items: [T] = []
                for record in try RecordDecoding.records(in: try Self.json(r)) { items.append(try decode(record)) }
                return (items, r.headers.first(name: "X-Total-Count").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) })
            }
            let done = consume(items)
            offset += pageSize
            if done || items.isEmpty { return }
            if let total, offset >= total { return }
        }
    }

    static func json(_ r: RawResponse) throws(DecodingProblem) -> JSONValue {
        do {
            return try JSONValue.parse(r.body)
        } catch {
            let start = String(decoding: r.body.prefix(40), as: UTF8.self)
            throw DecodingProblem(reason: r.body.isEmpty ? "empty body" : "not JSON (starts with \(start.debugDescription))")
        }
    }

    static func singleChange(_ r: RawResponse) throws(DecodingProblem) -> ChangeSnapshot {
        guard let first = try RecordDecoding.records(in: try json(r)).first else { throw DecodingProblem(reason: "empty result") }
        return try RecordDecoding.change(first)
    }
}

/// The write methods, without exposing NIO's HTTPMethod in signatures here.
enum HTTPMethodName {
    case POST, PATCH
    var nio: HTTPMethod { self == .POST ? .POST : .PATCH }
}
