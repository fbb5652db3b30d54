import Foundation
import PostgresNIO
import QueueStore

/// Filling an empty PostgreSQL queue with another queue's rows (`changegate migrate`): ids, states, logs and the
/// audit chain as they are, in one transaction, so a failed migration leaves the target as empty as it was.
extension PostgresQueueStore {
    /// Columns stored as integers here (TEXT elsewhere).
    static let integerColumnsByTable: [String: Set<String>] = [
        "deployments": ["id", "exit_code", "cancel_requested", "child_pid"],
        "task_log": ["id", "task_id"],
        "audit_log": ["seq", "task_id"],
        "integration_errors": ["id", "task_id"],
    ]

    /// Rows in the tables a migration fills; zero for an empty queue.
    public func queueRowCount() async throws(QueueStoreError) -> Int64 {
        do {
            let rows = try await client.query("""
                SELECT (SELECT count(*) FROM deployments) + (SELECT count(*) FROM task_log) + (SELECT count(*) FROM audit_log)
                """, logger: logger).collect()
            return try rows[0].decode(Int64.self)
        } catch {
            throw wrap(error)
        }
    }

    /// Copies everything `next` yields (table by table, page by page, in key order), sets the instance id (so
    /// correlation ids, and with them the reconcile of changes, stay the same) and moves the id sequences past
    /// the copied rows. The producer trigger is off for the copy only (the rows are not new requests); the audit
    /// chain trigger stays on and checks every record as it lands.
    public func importQueue(instanceID: String, tables: [(table: String, columns: [String])],
                            next: @Sendable @escaping (String) async throws -> [[String?]]) async throws(QueueStoreError) -> [String: Int] {
        let logger = self.logger
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await connection.query("ALTER TABLE deployments DISABLE TRIGGER deployments_insert_queued", logger: logger)
                var counts: [String: Int] = [:]
                for (table, columns) in tables {
                    let integers = Self.integerColumnsByTable[table] ?? []
                    let placeholders = columns.enumerated().map { i, c in integers.contains(c) ? "$\(i + 1)::bigint" : "$\(i + 1)" }
                    let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(placeholders.joined(separator: ", ")))"
                    while true {
                        let page = try await next(table)
                        if page.isEmpty { break }
                        for row in page {
                            var binds = PostgresBindings()
                            for value in row {
                                if let value { binds.append(value) } else { binds.appendNull() }
                            }
                            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
                        }
                        counts[table, default: 0] += page.count
                    }
                }
                try await connection.query("ALTER TABLE deployments ENABLE TRIGGER deployments_insert_queued", logger: logger)
                try await connection.query("UPDATE meta SET value = \(instanceID) WHERE key = 'instance_id'", logger: logger)
                for table in ["deployments", "task_log", "integration_errors"] {
                    try await connection.query(PostgresQuery(unsafeSQL: """
                        SELECT setval(pg_get_serial_sequence('\(table)', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM \(table)), false)
                        """), logger: logger)
                }
                return counts
            }
        } catch {
            throw wrap(error)
        }
    }
}
