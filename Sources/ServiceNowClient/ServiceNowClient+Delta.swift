import Foundation
import ServiceNowModel

extension ServiceNowClient {
    /// The Table API's change table: unlike the Change Management API it honours `sysparm_fields`, so a status read
    /// carries the ten fields a decision needs (~0.3 KB a change) instead of every field (~6.6 KB).
    static let changeTable = "/api/now/table/change_request"
    /// Raw values (`"-1"`, UTC dates), no reference links: the smallest answer, and one that no time zone changes.
    static let tableReadParameters = snapshotFields + [("sysparm_display_value", "false"), ("sysparm_exclude_reference_link", "true")]
    /// Page size of the delta read: large, because each record is small and a page is one request.
    static let deltaPageSize = 500

    /// Every change request updated in the last `seconds` by the instance's own clock
    /// (`sys_updated_onRELATIVEGE@second@ago@N`), oldest first, paged. The query never names a date, so its
    /// meaning does not depend on the service user's time zone or on this host's clock; the caller widens `seconds`
    /// by an overlap margin so that a change updated during the previous read is not missed.
    public func changesUpdated(withinLast seconds: Int) async throws(ServiceNowError) -> [ChangeSnapshot] {
        let query = "sys_updated_onRELATIVEGE@second@ago@\(max(1, seconds))^ORDERBYsys_updated_on^ORDERBYsys_id"
        var found: [ChangeSnapshot] = []
        try await pageThrough(path: Self.changeTable, query: query, pageSize: Self.deltaPageSize, extra: Self.tableReadParameters,
                              operation: "changes updated in the last \(seconds) s", decode: RecordDecoding.change) { changes in
            found += changes
            return false
        }
        return found
    }

    /// Whether the instance honours the relative date operator the delta read relies on: a change updated an hour
    /// *ahead* cannot exist, so an instance that drops the clause as unknown answers with every change instead of none.
    /// nil when the instance has no change at all (nothing to tell them apart by).
    public func honoursRelativeDates() async throws(ServiceNowError) -> Bool? {
        func count(_ query: String) async throws(ServiceNowError) -> Int {
            let request = APIRequest(method: .GET, path: Self.changeTable,
                                     query: [("sysparm_query", query), ("sysparm_limit", "1"), ("sysparm_fields", "sys_id")],
                                     kind: .read, operation: "count of change requests")
            return try await send(request) { r throws(DecodingProblem) in
                let listed = try RecordDecoding.records(in: try Self.json(r)).count
                return r.headers.first(name: "X-Total-Count").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? listed
            }
        }
        let all = try await count("sys_idISNOTEMPTY")
        guard all > 0 else { return nil }
        return try await count("sys_updated_onRELATIVEGE@hour@ahead@1") == 0
    }
}
