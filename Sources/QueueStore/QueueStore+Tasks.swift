import AuditTrail
import Foundation
import GRDB
import QueueContract

extension QueueStore {
    public func task(_ id: Int64) throws(QueueStoreError) -> TaskRecord {
        let record = try read { db in try TaskRecord.fetchOne(db, sql: "SELECT \(TaskRecord.selection) FROM deployments WHERE id = ?", arguments: [id]) }
        guard let record else { throw .notFound(id: id) }
        return record
    }

    /// The newest tasks first.
    public func recent(limit: Int = 50) throws(QueueStoreError) -> [TaskRecord] {
        try read { db in
            try TaskRecord.fetchAll(db, sql: "SELECT \(TaskRecord.selection) FROM deployments ORDER BY id DESC LIMIT ?", arguments: [limit])
        }
    }

    /// Tasks for an audit export or a report, oldest first.
    public func tasks(createdFrom from: Date?, to: Date?) throws(QueueStoreError) -> [TaskRecord] {
        try read { db in
            try TaskRecord.fetchAll(db, sql: """
                SELECT \(TaskRecord.selection) FROM deployments WHERE (?1 IS NULL OR created_at >= ?1) AND (?2 IS NULL OR created_at < ?2) ORDER BY id
                """, arguments: [from.map(Timestamp.format), to.map(Timestamp.format)])
        }
    }

    public func countsByState() throws(QueueStoreError) -> [TaskState: Int] {
        try read { db in
            var counts: [TaskState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, count(*) AS n FROM deployments WHERE state NOT IN ('succeeded','failed','cancelled') GROUP BY state") {
                if let s = TaskState(rawValue: row["state"]) { counts[s] = row["n"] }
            }
            return counts
        }
    }

    /// Applies `change` to task `id` and appends its event lines, atomically.
    public func apply(_ change: TaskChange, to id: Int64, at now: Date = Date()) throws(QueueStoreError) {
        try apply([(id, change)], at: now)
    }

    /// Several task updates in one transaction (one fsync for a whole scheduler pass).
    public func apply(_ changes: [(Int64, TaskChange)], at now: Date = Date()) throws(QueueStoreError) {
        guard !changes.isEmpty else { return }
        let stamp = Timestamp.format(now)
        try write { db in try Self.apply(changes, stamp: stamp, db) }
    }

    static func apply(_ changes: [(Int64, TaskChange)], stamp: String, _ db: Database) throws {
        // Read inside the write transaction: no other writer can slip a record in between.
        var head = try auditHead(db)
        for (id, change) in TaskChange.coalesced(changes) {
            let assignments = change.assignments
            if !assignments.isEmpty {
                let set = assignments.map { "\($0.0) = ?" }.joined(separator: ", ")
                var arguments = StatementArguments(assignments.map { $0.1.flatMap { $0 as? any DatabaseValueConvertible } })
                arguments += [stamp, id]
                // Cached by its text: the scheduler writes a handful of column sets over and over.
                try db.cachedStatement(sql: "UPDATE deployments SET \(set), updated_at = ? WHERE id = ?").execute(arguments: arguments)
            }
            for line in change.events {
                try db.cachedStatement(sql: "INSERT INTO task_log (task_id, at, stream, line) VALUES (?, ?, 'event', ?)")
                    .execute(arguments: [id, stamp, line])
            }
            for event in change.audit {
                let record = AuditChain.record(after: head, taskID: id, at: stamp, event)
                try insert(record, db)
                head = AuditHead(seq: record.seq, hash: record.hash)
            }
        }
    }

    /// Appends output lines (stdout/stderr of the deploy command) in one transaction.
    public func appendLog(_ lines: [LogLine]) throws(QueueStoreError) {
        guard !lines.isEmpty else { return }
        try write { db in try Self.appendLog(lines, db) }
    }

    static func appendLog(_ lines: [LogLine], _ db: Database) throws {
        for line in lines {
            try db.cachedStatement(sql: "INSERT INTO task_log (task_id, at, stream, line) VALUES (?, ?, ?, ?)")
                .execute(arguments: [line.taskID, Timestamp.format(line.at), line.stream.rawValue, line.text])
        }
    }

    /// Log lines of a task after `afterID` (0 for all), in order.
    public func log(of taskID: Int64, after afterID: Int64 = 0, limit: Int = 10_000) throws(QueueStoreError) -> [LogLine] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM task_log WHERE task_id = ? AND id > ? ORDER BY id LIMIT ?",
                             arguments: [taskID, afterID, limit]).map { row in
                LogLine(id: row["id"], taskID: row["task_id"], at: Timestamp.parse(row["at"]) ?? Date(timeIntervalSince1970: 0),
                        stream: LogLine.Stream(rawValue: row["stream"]) ?? .event, text: row["line"])
            }
        }
    }

    /// Asks the daemon to cancel a task. Returns false when the task had already finished.
    @discardableResult
    public func requestCancel(_ id: Int64) throws(QueueStoreError) -> Bool {
        let record = try task(id)
        if record.state.isTerminal { return false }
        try write { db in try db.execute(sql: "UPDATE deployments SET cancel_requested = 1 WHERE id = ?", arguments: [id]) }
        return true
    }

    /// Inserts a deployment the way producers do (the CLI's `enqueue`).
    public func enqueue(project: String, environment: String, release: String, changeNumber: String? = nil,
                        requestedBy: String? = nil, variables: String? = nil, changeType: String? = nil,
                        idempotencyKey: String? = nil, notBefore: String? = nil, changeTemplate: String? = nil) throws(QueueStoreError) -> Int64 {
        do {
            return try pool.write { db in
                try db.execute(sql: """
                    INSERT INTO deployments (project, environment, release, change_number, requested_by, variables, change_type, idempotency_key, not_before, change_template)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [project, environment, release, changeNumber, requestedBy, variables, changeType, idempotencyKey, notBefore, changeTemplate])
                return db.lastInsertedRowID
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw .duplicateIdempotencyKey(idempotencyKey ?? "")
        } catch {
            throw QueueStoreError.wrap(error, path: path)
        }
    }

    public func recordIntegrationError(connection: String, taskID: Int64?, message: String, at now: Date = Date()) throws(QueueStoreError) {
        try write { db in try Self.recordIntegrationError(connection: connection, taskID: taskID, message: message, at: now, db) }
    }

    /// Keeps the newest 1,000.
    static func recordIntegrationError(connection: String, taskID: Int64?, message: String, at now: Date, _ db: Database) throws {
        try db.execute(sql: "INSERT INTO integration_errors (at, connection, task_id, message) VALUES (?, ?, ?, ?)",
                       arguments: [Timestamp.format(now), connection, taskID, message])
        try db.execute(sql: "DELETE FROM integration_errors WHERE id <= (SELECT max(id) - 1000 FROM integration_errors)")
    }

    /// The daemon's notes (`setDaemonNote`), by key without the `note.` prefix.
    public func daemonNotes() throws(QueueStoreError) -> [(key: String, value: String)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT key, value FROM meta WHERE key LIKE 'note.%' ORDER BY key").map {
                (String(($0["key"] as String).dropFirst(5)), $0["value"])
            }
        }
    }

    public func recentIntegrationErrors(limit: Int = 5) throws(QueueStoreError) -> [(at: Date, connection: String, taskID: Int64?, message: String)] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM integration_errors ORDER BY id DESC LIMIT ?", arguments: [limit]).map {
                (Timestamp.parse($0["at"]) ?? Date(timeIntervalSince1970: 0), $0["connection"], $0["task_id"], $0["message"])
            }
        }
    }
}
