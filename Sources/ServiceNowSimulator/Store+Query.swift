import ServiceNowModel

/// One page of a list query.
struct Page: Sendable {
    var rows: [Row]
    var total: Int
}

extension SimulatorStore {
    /// Fields with an index, per table: a query group that pins one of them (`=` or `IN`) is answered from
    /// the index instead of a scan.
    private static let indexedFields: [String: [String]] = [
        "change_request": ["sys_id", "number"],
        "sysapproval_approver": ["sysapproval", "document_id", "sys_id"],
        "sys_user": ["sys_id"],
    ]

    func rows(of table: String) -> [Row?] {
        switch table {
        case "change_request": changes
        case "sysapproval_approver": approvals
        case "sys_user": directory.userRows
        default: extraRows(table)
        }
    }

    /// Runs `sysparm_query` (plus exact-match `filters`, the Change API's name=value parameters) over a table.
    func list(table: String, query text: String, filters: [(String, String)] = [], offset: Int, limit: Int) -> Page {
        guard let schema = Schemas.tables[table] else { return Page(rows: [], total: 0) }
        let query = EncodedQuery(text) { self.fieldSpec($0, in: schema) }
        let all = rows(of: table)
        let filters = filters.filter { fieldSpec($0.0, in: schema) != nil }
        var hits: [Int] = []
        for i in candidates(query, table: table, all: all) {
            guard let row = all[i] else { continue }
            let value = { (field: String) in self.fieldValue(row, field, in: schema) }
            if filters.allSatisfy({ value($0.0) == $0.1 }), query.matches(value) { hits.append(i) }
        }
        if !query.orderBy.isEmpty {
            let keys = Dictionary(uniqueKeysWithValues: hits.map { i in
                (i, query.orderBy.map { fieldValue(all[i]!, $0.field, in: schema) })
            })
            hits.sort { a, b in
                for (k, order) in query.orderBy.enumerated() {
                    let c = EncodedQuery.compare(keys[a]![k], keys[b]![k], numeric: order.spec.isNumeric)
                    if c != 0 { return order.descending ? c > 0 : c < 0 }
                }
                return a < b
            }
        }
        let start = min(max(offset, 0), hits.count)
        let end = min(start + max(limit, 0), hits.count)
        return Page(rows: hits[start..<end].map { all[$0]! }, total: hits.count)
    }

    /// Row positions worth testing: from the indexes when every OR'd group pins an indexed field, else all.
    private func candidates(_ query: EncodedQuery, table: String, all: [Row?]) -> [Int] {
        guard !query.groups.isEmpty, let fields = Self.indexedFields[table] else { return Array(all.indices) }
        var found = Set<Int>()
        for group in query.groups {
            guard let (field, values) = fields.lazy.compactMap({ f in query.indexedValues(in: group, field: f).map { (f, $0) } }).first
            else { return Array(all.indices) }
            for value in values { found.formUnion(indexLookup(table: table, field: field, value: value)) }
        }
        return found.sorted()
    }

    private func indexLookup(table: String, field: String, value: String) -> [Int] {
        switch (table, field) {
        case ("change_request", "sys_id"): changeBySysID[value].map { [$0] } ?? []
        case ("change_request", "number"): changeByNumber[value].map { [$0] } ?? []
        case ("sysapproval_approver", "sys_id"): approvalBySysID[value].map { [$0] } ?? []
        case ("sysapproval_approver", _): approvalsByChange[value] ?? []
        case ("sys_user", _): directory.userRowIndex[value].map { [$0] } ?? []
        default: []
        }
    }

    // MARK: Templates

    /// Standard change templates matching `sysparm_query` (typically `active=true^name=NAME`).
    func templates(query text: String) -> [SimTemplate] {
        let query = EncodedQuery(text) { Schemas.template[$0] }
        return templates.filter { t in
            let row = Self.queryRow(t)
            return query.matches { row.value($0, in: Schemas.template) }
        }
    }

    func template(sysID: String) -> SimTemplate? { templates.first { $0.sysID == sysID } }

    static func queryRow(_ t: SimTemplate) -> Row {
        Row(values: ["sys_id": t.sysID, "name": t.name, "sys_name": t.name, "short_description": t.shortDescription,
                     "active": t.active ? "true" : "false", "sys_created_on": t.createdOn, "sys_updated_on": t.updatedOn])
    }

    func addTemplate(name: String, shortDescription: String?, fields: [String: String]) -> SimTemplate {
        let now = GlideClock.now()
        let t = SimTemplate(
            sysID: newSysID(), name: name, shortDescription: shortDescription ?? name, templateSysID: newSysID(),
            versionSysID: newSysID(), categorySysID: "abbcbbbf47700200e90d87e8dee49041",
            categoryName: "Network Standard Changes", active: true, createdOn: now, updatedOn: now, createdBy: "admin",
            fields: ["short_description": shortDescription ?? name].merging(fields) { _, new in new }, seeded: false)
        templates.append(t)
        touch()
        return t
    }
}
