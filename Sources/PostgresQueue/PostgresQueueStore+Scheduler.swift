import AuditTrail
import Foundation
import Logging
import PostgresNIO
import QueueContract
import QueueStore

/// The scheduler's database work on PostgreSQL, statement for statement what SQLite's `QueueStore` does.
/// Values are always bound (`$1`…); only column names from `TaskChange` are spliced into SQL.
extension PostgresQueueStore {
    static let columns = TaskRecord.columnNames
    static let integerColumns: Set<String> = ["id", "exit_code", "cancel_requested", "child_pid"]
    static let selection = columns.joined(separator: ", ")

    /// Two statements on one pooled connection; the cancel read is first so a row cancelled while queued is never
    /// started from this intake (the scheduler drops cancelled ids from the rows it reads).
    public func intake(after cursor: Int64, limit: Int) async throws(QueueStoreError) -> (cancels: [Int64], rows: [TaskRecord]) {
        let cancels = try await ids("SELECT id FROM deployments WHERE cancel_requested <> 0 AND state NOT IN ('succeeded','failed','cancelled') ORDER BY id")
        guard limit > 0 else { return (cancels, []) }
        let rows = try await records("SELECT \(unescaped: Self.selection) FROM deployments WHERE state = 'queued' AND id > \(cursor) ORDER BY id LIMIT \(Int64(limit))")
        return (cancels, rows)
    }

    /// The newest rows first, for `changegate status`.
    public func recent(limit: Int) async throws(QueueStoreError) -> [TaskRecord] {
        try await records("SELECT \(unescaped: Self.selection) FROM deployments ORDER BY id DESC LIMIT \(Int64(limit))")
    }

    public func record(_ id: Int64) async throws(QueueStoreError) -> TaskRecord? {
        try await records("SELECT \(unescaped: Self.selection) FROM deployments WHERE id = \(id)").first
    }

    public func unfinished() async throws(QueueStoreError) -> [TaskRecord] {
        try await records("""
            SELECT \(unescaped: Self.selection) FROM deployments WHERE state NOT IN ('queued','succeeded','failed','cancelled') ORDER BY id
            """)
    }

    public func otherUsers(ofChange number: String, excluding id: Int64) async throws(QueueStoreError) -> [Int64] {
        try await ids("""
            SELECT id FROM deployments WHERE change_number = \(number) AND id <> \(id) AND state NOT IN ('completing','succeeded','failed','cancelled') ORDER BY id
            """)
    }

    /// Output lines, then the task updates with their events and chained audit records, in one transaction.
    public func commit(_ changes: [(Int64, TaskChange)], log lines: [LogLine], at now: Date) async throws(QueueStoreError) {
        guard !changes.isEmpty || !lines.isEmpty else { return }
        let stamp = Timestamp.format(now)
        let logger = self.logger
        do {
            try await client.withTransaction(logger: logger) { connection in
                try await checkFence(connection)
                for line in lines {
                    try await connection.query("""
                        INSERT INTO task_log (task_id, at, stream, line) VALUES (\(line.taskID), \(Timestamp.format(line.at)), \(line.stream.rawValue), \(line.text))
                        """, logger: logger)
                }
                // The head is read inside the transaction; the audit table's lock keeps another writer from appending
                // between this read and the inserts (the chain trigger would refuse its records anyway).
                var head = AuditHead.genesis
                if changes.contains(where: { !$0.1.audit.isEmpty }) {
                    try await connection.query("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE", logger: logger)
                    if let row = try await connection.query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", logger: logger).collect().first {
                        let (seq, hash) = try row.decode((Int64, String).self)
                        head = AuditHead(seq: seq, hash: hash)
                    }
                }
                for (id, change) in changes {
                    let assignments = change.assignments
                    if !assignments.isEmpty {
                        var binds = PostgresBindings()
                        var sets: [String] = []
                        for (column, value) in assignments {
                            switch value {
                            case let v as String: binds.append(v)
                            case let v as Int64: binds.append(v)
                            default: binds.appendNull()
                            }
                            sets.append("\(column) = $\(binds.count)")
                        }
                        binds.append(stamp)
                        binds.append(id)
                        let sql = "UPDATE deployments SET \(sets.joined(separator: ", ")), updated_at = $\(binds.count - 1) WHERE id = $\(binds.count)"
                        try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
                    }
                    for line in change.events {
                        try await connection.query("INSERT INTO task_log (task_id, at, stream, line) VALUES (\(id), \(stamp), 'event', \(line))", logger: logger)
                    }
                    for event in change.audit {
                        let r = AuditChain.record(after: head, taskID: id, at: stamp, event)
                        try await connection.query("""
                            INSERT INTO audit_log (seq, task_id, at, kind, details, prev_hash, hash)
                            VALUES (\(r.seq), \(r.taskID), \(r.at), \(r.kind), \(r.details), \(r.prevHash), \(r.hash))
                            """, logger: logger)
                        head = AuditHead(seq: r.seq, hash: r.hash)
                    }
                }
            }
        } catch {
            throw wrap(error)
        }
    }

    /// Keeps the newest 1,000, as SQLite does.
    public func noteIntegrationError(connection name: String, taskID: Int64?, message: String, at now: Date) async throws(QueueStoreError) {
        let logger = self.logger
        do {
            try await client.withTransaction(logger: logger) { connection in
                try await checkFence(connection)
                try await connection.query("""
                    INSERT INTO integration_errors (at, connection, task_id, message) VALUES (\(Timestamp.format(now)), \(name), \(taskID), \(message))
                    """, logger: logger)
                try await connection.query("DELETE FROM integration_errors WHERE id <= (SELECT max(id) - 1000 FROM integration_errors)", logger: logger)
            }
        } catch {
            throw wrap(error)
        }
    }

    public func setDaemonNote(_ key: String, _ value: String?) async throws(QueueStoreError) {
        try await fencedWrite { connection, logger in
            if let value {
                try await connection.query("INSERT INTO meta (key, value) VALUES (\("note.\(key)"), \(value)) ON CONFLICT (key) DO UPDATE SET value = excluded.value", logger: logger)
            } else {
                try await connection.query("DELETE FROM meta WHERE key = \("note.\(key)")", logger: logger)
            }
        }
    }

    public func clearDaemonNotes() async throws(QueueStoreError) {
        try await fencedWrite { connection, logger in try await connection.query("DELETE FROM meta WHERE key LIKE 'note.%'", logger: logger) }
    }

    /// A write in a transaction that first checks the fence.
    func fencedWrite(_ body: @Sendable (PostgresConnection, Logger) async throws -> Void) async throws(QueueStoreError) {
        let logger = self.logger
        do {
            try await client.withTransaction(logger: logger) { connection in
                try await checkFence(connection)
                try await body(connection, logger)
            }
        } catch {
            throw wrap(error)
        }
    }

    public func log(of taskID: Int64, after afterID: Int64, limit: Int) async throws(QueueStoreError) -> [LogLine] {
        do {
            let rows = try await client.query("""
                SELECT id, task_id, at, stream, line FROM task_log WHERE task_id = \(taskID) AND id > \(afterID) ORDER BY id LIMIT \(Int64(limit))
                """, logger: logger).collect()
            return try rows.map { row in
                let (id, task, at, stream, line) = try row.decode((Int64, Int64, String, String, String).self)
                return LogLine(id: id, taskID: task, at: Timestamp.parse(at) ?? Date(timeIntervalSince1970: 0),
                               stream: LogLine.Stream(rawValue: stream) ?? .event, text: line)
            }
        } catch {
            throw wrap(error)
        }
    }

    public func auditRecords(ofTask id: Int64) async throws(QueueStoreError) -> [AuditRecord] {
        try await audit("SELECT seq, task_id, at, kind, details, prev_hash, hash FROM audit_log WHERE task_id = \(id) ORDER BY seq")
    }

    /// Audit records after `seq`, in chain order, at most `limit` (for verification and tests).
    public func auditRecords(after seq: Int64 = 0, limit: Int = 10_000) async throws(QueueStoreError) -> [AuditRecord] {
        try await audit("SELECT seq, task_id, at, kind, details, prev_hash, hash FROM audit_log WHERE seq > \(seq) ORDER BY seq LIMIT \(Int64(limit))")
    }

    /// Recomputes the whole chain, page by page, as `QueueStore.verifyAuditChain` does.
    public func verifyAuditChain(pageSize: Int = 10_000) async throws(QueueStoreError) -> (count: Int, head: AuditHead, failure: AuditFailure?) {
        var verifier = AuditChain.Verifier()
        var last: Int64 = 0
        while true {
            let page = try await auditRecords(after: last, limit: pageSize)
            for record in page {
                if let failure = verifier.check(record) { return (verifier.count, verifier.head, failure) }
            }
            guard let next = page.last?.seq else { return (verifier.count, verifier.head, nil) }
            last = next
        }
    }

    // MARK: helpers

    func records(_ query: PostgresQuery) async throws(QueueStoreError) -> [TaskRecord] {
        do {
            return try await client.query(query, logger: logger).collect().map { row in
                let cells = row.makeRandomAccess()
                func column(_ name: String) -> RawValue {
                    guard !Self.integerColumns.contains(name), let text = try? cells[name].decode(String?.self) else { return .null }
                    return .text(text)
                }
                return TaskRecord(id: try cells["id"].decode(Int64.self), column: column,
                                  integer: { try? cells[$0].decode(Int64?.self) })
            }
        } catch {
            throw wrap(error)
        }
    }

    func ids(_ query: PostgresQuery) async throws(QueueStoreError) -> [Int64] {
        do {
            return try await client.query(query, logger: logger).collect().map { try $0.decode(Int64.self) }
        } catch {
            throw wrap(error)
        }
    }

    func audit(_ query: PostgresQuery) async throws(QueueStoreError) -> [AuditRecord] {
        do {
            return try await client.query(query, logger: logger).collect().map { row in
                let (seq, task, at, kind, details, prev, hash) = try row.decode((Int64, Int64, String, String, String, String, String).self)
                return AuditRecord(seq: seq, taskID: task, at: at, kind: kind, details: details, prevHash: prev, hash: hash)
            }
        } catch {
            throw wrap(error)
        }
    }

    func execute(_ query: PostgresQuery) async throws(QueueStoreError) {
        do { try await client.query(query, logger: logger) } catch { throw wrap(error) }
    }
}
