import AuditTrail
import Foundation
import GRDB
import QueueContract

/// The scheduler's database work. Every call runs on GRDB's own queues and suspends the caller, so the
/// daemon's loop never blocks a thread of the cooperative pool on SQLite.
extension QueueStore {
    /// What an intake needs in one read: the unfinished rows whose cancellation was asked for (only those rows are
    /// read: partial index `deployments_cancel`), and up to `limit` queued rows with an id above `cursor`, oldest first
    /// (`limit` 0 reads none). Each row is read once, so rows that must wait (a future `not_before`, a full slot)
    /// never hide the rows behind them.
    public func intake(after cursor: Int64, limit: Int) async throws(QueueStoreError) -> (cancels: [Int64], rows: [TaskRecord]) {
        try await reading { db in
            let cancels = try Int64.fetchAll(db.cachedStatement(sql: Self.pendingCancelsSQL))
            guard limit > 0 else { return (cancels, []) }
            return (cancels, try TaskRecord.fetchAll(db.cachedStatement(sql: Self.queuedSQL), arguments: [cursor, limit]))
        }
    }

    static let queuedSQL = "SELECT \(TaskRecord.selection) FROM deployments WHERE state = 'queued' AND id > ? ORDER BY id LIMIT ?"
    static let pendingCancelsSQL = "SELECT id FROM deployments WHERE cancel_requested <> 0 AND state NOT IN ('succeeded','failed','cancelled')"

    /// One row, or nil when it is gone.
    public func record(_ id: Int64) async throws(QueueStoreError) -> TaskRecord? {
        try await reading { db in
            try TaskRecord.fetchOne(db, sql: "SELECT \(TaskRecord.selection) FROM deployments WHERE id = ?", arguments: [id])
        }
    }

    /// Rows between queued and terminal, for start-up recovery.
    public func unfinished() async throws(QueueStoreError) -> [TaskRecord] {
        try await reading { db in
            try TaskRecord.fetchAll(db, sql: """
                SELECT \(TaskRecord.selection) FROM deployments WHERE state NOT IN ('queued','succeeded','failed','cancelled') ORDER BY id
                """)
        }
    }

    /// Output lines, then several task updates, in one transaction (a child's lines come before its exit).
    public func commit(_ changes: [(Int64, TaskChange)], log lines: [LogLine] = [], at now: Date = Date()) async throws(QueueStoreError) {
        guard !changes.isEmpty || !lines.isEmpty else { return }
        let stamp = Timestamp.format(now)
        try await writing { db in
            try Self.appendLog(lines, db)
            try Self.apply(changes, stamp: stamp, db)
        }
    }

    /// Other tasks that still may deploy under change `number` (a change is closed only when none does).
    /// Tasks already completing do not count: their run is over, and two finishing together must not
    /// each wait for the other (the change would stay open).
    public func otherUsers(ofChange number: String, excluding id: Int64) async throws(QueueStoreError) -> [Int64] {
        try await reading { db in
            try Int64.fetchAll(db, sql: """
                SELECT id FROM deployments WHERE change_number = ? AND id <> ? AND state NOT IN ('completing','succeeded','failed','cancelled')
                """, arguments: [number, id])
        }
    }

    public func noteIntegrationError(connection: String, taskID: Int64?, message: String, at now: Date) async throws(QueueStoreError) {
        try await writing { db in try Self.recordIntegrationError(connection: connection, taskID: taskID, message: message, at: now, db) }
    }

    /// What the daemon reports of itself for `changegate status` (e.g. `poll.<connection>`); nil removes it.
    public func setDaemonNote(_ key: String, _ value: String?) async throws(QueueStoreError) {
        try await writing { db in
            if let value {
                try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                               arguments: ["note.\(key)", value])
            } else {
                try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: ["note.\(key)"])
            }
        }
    }

    public func clearDaemonNotes() async throws(QueueStoreError) {
        try await writing { db in try db.execute(sql: "DELETE FROM meta WHERE key LIKE 'note.%'") }
    }

    func reading<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(QueueStoreError) -> T {
        do { return try await pool.read(body) } catch { throw QueueStoreError.wrap(error, path: path) }
    }

    func writing<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(QueueStoreError) -> T {
        do { return try await pool.write(body) } catch { throw QueueStoreError.wrap(error, path: path) }
    }
}
