import AuditTrail
import Foundation

/// What the scheduler needs of a queue backend, and nothing more: SQLite's `QueueStore` and PostgreSQL's
/// `PostgresQueueStore` both provide it, so the scheduler never knows which one it runs on.
/// Every method keeps the queue contract (docs/queue-contract.md) whatever the backend.
public protocol QueueStorage: Sendable {
    /// Where the queue is, for logs: a file path, or a URL without any secret.
    var path: String { get }
    /// The random id of this queue, part of every correlation id; fixed for the queue's life, so backends read
    /// it once when they open and this never waits on the database.
    func instanceID() throws(QueueStoreError) -> String
    /// In one read: the unfinished rows whose cancellation was asked for, and up to `limit` queued rows with an id
    /// above `cursor`, oldest first (`limit` 0 reads none).
    func intake(after cursor: Int64, limit: Int) async throws(QueueStoreError) -> (cancels: [Int64], rows: [TaskRecord])
    /// One row, or nil when it is gone.
    func record(_ id: Int64) async throws(QueueStoreError) -> TaskRecord?
    /// Rows between queued and terminal, for start-up recovery.
    func unfinished() async throws(QueueStoreError) -> [TaskRecord]
    /// Output lines, then several task updates with their events and audit records, in one transaction.
    func commit(_ changes: [(Int64, TaskChange)], log lines: [LogLine], at now: Date) async throws(QueueStoreError)
    /// Other tasks that still may deploy under change `number` (not completing, not terminal).
    func otherUsers(ofChange number: String, excluding id: Int64) async throws(QueueStoreError) -> [Int64]
    func noteIntegrationError(connection: String, taskID: Int64?, message: String, at now: Date) async throws(QueueStoreError)
    /// What the daemon reports of itself for `changegate status`; nil removes the note.
    func setDaemonNote(_ key: String, _ value: String?) async throws(QueueStoreError)
    func clearDaemonNotes() async throws(QueueStoreError)
    /// Log lines of a task after `afterID` (0 for all), in order, at most `limit`.
    func log(of taskID: Int64, after afterID: Int64, limit: Int) async throws(QueueStoreError) -> [LogLine]
    /// One task's audit records, in chain order.
    func auditRecords(ofTask id: Int64) async throws(QueueStoreError) -> [AuditRecord]
    /// How the scheduler hears that a producer changed the queue (new rows, cancel requests), so intake needs no
    /// tight poll. `fallbackInterval` is the poll where the backend cannot tell (and a slow safety check where it can).
    func changeFeed(fallbackInterval: Duration) throws(QueueStoreError) -> QueueChangeFeed
}

extension QueueStorage {
    public func commit(_ changes: [(Int64, TaskChange)], at now: Date) async throws(QueueStoreError) {
        try await commit(changes, log: [], at: now)
    }
}

/// A backend's change notifications: a stream for the scheduler, and the work (if any) that feeds it, which the
/// daemon runs beside the scheduler until shutdown (PostgreSQL's `LISTEN` session; SQLite's watcher needs none).
public struct QueueChangeFeed: Sendable {
    /// Why changes are noticed by polling only, for the daemon to log; nil when they are pushed.
    public let pollingReason: String?
    /// Yields once at the start, then whenever the queue may have changed (coalesced). Meant for one consumer.
    public let changes: @Sendable () -> AsyncStream<Void>
    /// Runs until the calling task is cancelled, feeding `changes`; nil when nothing needs to run.
    public let run: (@Sendable () async -> Void)?

    public init(pollingReason: String?, changes: @escaping @Sendable () -> AsyncStream<Void>, run: (@Sendable () async -> Void)? = nil) {
        self.pollingReason = pollingReason
        self.changes = changes
        self.run = run
    }
}

#if os(Linux)
extension QueueStore: QueueStorage {
    /// SQLite: the file watcher (inotify on the `-wal` file, confirmed with `PRAGMA data_version`).
    public func changeFeed(fallbackInterval: Duration) throws(QueueStoreError) -> QueueChangeFeed {
        let watcher = try DatabaseWatcher(path: path, fallbackInterval: fallbackInterval, ignoringCommitsOf: self)
        return QueueChangeFeed(pollingReason: watcher.pollingReason, changes: { watcher.changes() })
    }
}
#endif
