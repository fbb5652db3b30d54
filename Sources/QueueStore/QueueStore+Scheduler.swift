import AuditTrail
import Foundation
import GRDB
import QueueContract

/// The scheduler's database work. Every call runs on GRDB's own queues and suspends the caller, so the
/// daemon's loop never blocks a thread of the cooperative pool on SQLite.
extension QueueStore {
    /// Queued rows with an id above `cursor`, oldest first: each row is read once, so rows that must wait
    /// (a future `not_before`, a full slot) never hide the rows behind them.
    public func queued(after cursor: Int64, limit: Int) async throws(QueueStoreError) -> [TaskRecord] {
        try await reading { db in
            try TaskRecord.fetchAll(db, sql: "SELECT \(TaskRecord.selection) FROM deployments WHERE state = 'queued' AND id > ? ORDER BY id LIMIT ?",
                                    arguments: [cursor, limit])
        }
    }

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

    /// Unfinished rows whose cancellation was asked for; reads only those rows (partial index `deployments_cancel`).
    public func pendingCancels() async throws(QueueStoreError) -> [Int64] {
        try await reading { db in
            try Int64.fetchAll(db, sql: """
                SELECT id FROM deployments WHERE cancel_requested <> 0 AND state NOT IN ('succeeded','failed','cancelled')
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

    func reading<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(QueueStoreError) -> T {
        do { return try await pool.read(body) } catch { throw QueueStoreError.wrap(error, path: path) }
    }

    func writing<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(QueueStoreError) -> T {
        do { return try await pool.write(body) } catch { throw QueueStoreError.wrap(error, path: path) }
    }
}
