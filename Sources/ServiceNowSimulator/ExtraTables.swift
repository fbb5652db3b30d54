import Foundation

/// Rows of one of the schedule-aware gate's tables: creation order, nil for deleted rows, an index by sys_id.
struct TableRows: Sendable {
    var rows: [Row?] = []
    var bySysID: [String: Int] = [:]
}

extension SimulatorStore {
    func extraRows(_ table: String) -> [Row?] {
        if let type = Schemas.scheduleViews[table] {
            return (tables["cmn_schedule"]?.rows ?? []).map { r in r.flatMap { $0["type"] == type ? $0 : nil } }
        }
        return tables[table]?.rows ?? []
    }

    func extraRow(table: String, sysID: String) -> (Row, TableSchema)? {
        let name = Schemas.scheduleViews[table] == nil ? table : "cmn_schedule"
        guard let schema = Schemas.tables[name], let i = tables[name]?.bySysID[sysID], let row = tables[name]?.rows[i] else { return nil }
        if let type = Schemas.scheduleViews[table], row["type"] != type { return nil }
        return (row, schema)
    }

    /// Live rows of a table.
    func liveRows(_ table: String) -> [Row] { (tables[table]?.rows ?? []).compactMap { $0 } }

    func insertRow(table: String, _ row: Row) {
        var t = tables[table] ?? TableRows()
        if let id = row["sys_id"] { t.bySysID[id] = t.rows.count }
        t.rows.append(row)
        tables[table] = t
        touch()
    }

    /// A new row with sys_id and audit fields; returns its sys_id.
    @discardableResult
    func insertNew(table: String, _ values: [String: String], by user: String = "admin") -> String {
        let now = GlideClock.now()
        let id = newSysID()
        var row = Row(values: ["sys_id": id, "sys_created_on": now, "sys_updated_on": now,
                               "sys_created_by": user, "sys_updated_by": user, "sys_mod_count": "0"])
        for (k, v) in values { row[k] = v }
        insertRow(table: table, row)
        return id
    }

    /// Changes fields of a row, keeping sys_updated_on, sys_updated_by and sys_mod_count.
    func updateRow(table: String, sysID: String, _ values: [String: String], by user: String = "admin") {
        guard let i = tables[table]?.bySysID[sysID], var row = tables[table]?.rows[i] else { return }
        for (k, v) in values { row[k] = v }
        row["sys_updated_on"] = GlideClock.now()
        row["sys_updated_by"] = user
        row["sys_mod_count"] = String((Int(row["sys_mod_count"] ?? "0") ?? 0) + 1)
        tables[table]!.rows[i] = row
        touch()
    }

    func deleteRow(table: String, sysID: String) {
        guard let i = tables[table]?.bySysID[sysID] else { return }
        tables[table]!.rows[i] = nil
        tables[table]!.bySysID[sysID] = nil
        touch()
    }

    /// Rows whose `field` equals `value`.
    func rows(_ table: String, where field: String, is value: String) -> [Row] {
        liveRows(table).filter { $0[field] == value }
    }
}
