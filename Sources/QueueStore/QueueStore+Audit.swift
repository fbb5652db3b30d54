import AuditTrail
import Foundation
import GRDB

/// The audit log: records are appended only through `apply` (in the transaction of the task change they
/// document) and read back here for `changegate audit verify` and `export`.
extension QueueStore {
    /// Audit records after `seq`, in chain order, at most `limit`.
    public func auditRecords(after seq: Int64 = 0, limit: Int = 10_000) throws(QueueStoreError) -> [AuditRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
                .map(Self.auditRecord)
        }
    }

    /// One task's audit records, in chain order.
    public func auditRecords(ofTask id: Int64) throws(QueueStoreError) -> [AuditRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE task_id = ? ORDER BY seq", arguments: [id]).map(Self.auditRecord)
        }
    }

    /// Recomputes the whole chain, page by page. Returns how many records held, the last good one,
    /// and the first record that does not fit (nil when the chain holds).
    public func verifyAuditChain(pageSize: Int = 10_000) throws(QueueStoreError) -> (count: Int, head: AuditHead, failure: AuditFailure?) {
        var verifier = AuditChain.Verifier()
        var last: Int64 = 0
        while true {
            let page = try auditRecords(after: last, limit: pageSize)
            for record in page {
                if let failure = verifier.check(record) { return (verifier.count, verifier.head, failure) }
            }
            guard let next = page.last?.seq else { return (verifier.count, verifier.head, nil) }
            last = next
        }
    }

    static func auditHead(_ db: Database) throws -> AuditHead {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")) else { return .genesis }
        return AuditHead(seq: row["seq"], hash: (row["hash"] as String?) ?? "")
    }

    static func insert(_ r: AuditRecord, _ db: Database) throws {
        try db.cachedStatement(sql: "INSERT INTO audit_log (seq, task_id, at, kind, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .execute(arguments: [r.seq, r.taskID, r.at, r.kind, r.details, r.prevHash, r.hash])
    }

    /// Reads a row without trusting its types: a tampered file must give a verification failure, not a crash.
    static func auditRecord(_ row: Row) -> AuditRecord {
        func text(_ column: String) -> String {
            let value: DatabaseValue = row[column]
            switch value.storage {
            case .null: return ""
            case .string(let s): return s
            case .int64(let i): return String(i)
            case .double(let d): return String(d)
            case .blob(let data): return String(decoding: data, as: UTF8.self)
            }
        }
        func integer(_ column: String) -> Int64 {
            let value: DatabaseValue = row[column]
            if case .int64(let i) = value.storage { return i }
            return Int64(text(column)) ?? -1
        }
        return AuditRecord(seq: integer("seq"), taskID: integer("task_id"), at: text("at"), kind: text("kind"),
                           details: text("details"), prevHash: text("prev_hash"), hash: text("hash"))
    }
}
