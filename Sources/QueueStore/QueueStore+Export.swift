import Foundation
import GRDB

/// Reading a whole queue out, page by page, for `changegate migrate`. Every value comes back as text (or nil),
/// whatever its SQLite storage class: the columns are loosely typed on purpose, and the target decides how to
/// store them.
extension QueueStore {
    /// The tables a migration copies, with their columns in a fixed order and the column that orders them.
    public static let exportedTables: [(table: String, key: String, columns: [String])] = [
        ("deployments", "id", TaskRecord.columnNames),
        ("task_log", "id", ["id", "task_id", "at", "stream", "line"]),
        ("audit_log", "seq", ["seq", "task_id", "at", "kind", "details", "prev_hash", "hash"]),
        ("integration_errors", "id", ["id", "at", "connection", "task_id", "message"]),
    ]

    /// Up to `limit` rows of `table` (one of `exportedTables`) with a key above `after`, in key order.
    public func exportPage(_ table: String, after: Int64, limit: Int) throws(QueueStoreError) -> [[String?]] {
        guard let spec = Self.exportedTables.first(where: { $0.table == table }) else { return [] }
        return try read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(spec.columns.joined(separator: ", ")) FROM \(spec.table) WHERE \(spec.key) > ? ORDER BY \(spec.key) LIMIT ?
                """, arguments: [after, limit]).map { row in
                (0..<row.count).map { i -> String? in
                    switch row[i] as DatabaseValue? {
                    case nil: return nil
                    case let value?:
                        switch value.storage {
                        case .null: return nil
                        case .int64(let v): return String(v)
                        case .double(let v): return String(v)
                        case .string(let v): return v
                        case .blob(let d): return String(decoding: d, as: UTF8.self)
                        }
                    }
                }
            }
        }
    }
}
