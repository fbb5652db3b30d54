import Foundation
import PostgresNIO
import QueueContract
import QueueStore

/// What the operator's commands (`enqueue`, `cancel`, `audit export`) do on a PostgreSQL queue, statement for
/// statement what SQLite's `QueueStore` does. These are producer writes, allowed to any daemon or producer role,
/// so they carry no leader epoch.
extension PostgresQueueStore {
    /// Inserts a deployment the way producers do; returns its id.
    public func enqueue(project: String, environment: String, release: String, changeNumber: String? = nil,
                        requestedBy: String? = nil, variables: String? = nil, changeType: String? = nil,
                        idempotencyKey: String? = nil, notBefore: String? = nil, changeTemplate: String? = nil) async throws(QueueStoreError) -> Int64 {
        let ids = try await ids("""
            INSERT INTO deployments (project, environment, release, change_number, requested_by, variables, change_type, idempotency_key, not_before, change_template)
            VALUES (\(project), \(environment), \(release), \(changeNumber), \(requestedBy), \(variables), \(changeType), \(idempotencyKey), \(notBefore), \(changeTemplate))
            RETURNING id
            """)
        guard let id = ids.first else { throw .postgres(url: path, message: "the insert returned no id", fix: "check the deployments table's definition") }
        return id
    }

    /// Asks the daemon to cancel a task; false when it had already finished. One statement, so a task that ends
    /// meanwhile is not marked.
    public func requestCancel(_ id: Int64) async throws(QueueStoreError) -> Bool {
        let marked = try await ids("""
            UPDATE deployments SET cancel_requested = 1 WHERE id = \(id) AND state NOT IN ('succeeded','failed','cancelled') RETURNING id
            """)
        if !marked.isEmpty { return true }
        guard try await record(id) != nil else { throw .notFound(id: id) }
        return false
    }

    /// Tasks queued in [from, to), oldest first, for an audit export.
    public func tasks(createdFrom from: Date?, to: Date?) async throws(QueueStoreError) -> [TaskRecord] {
        let since = from.map(Timestamp.format), until = to.map(Timestamp.format)
        return try await records("""
            SELECT \(unescaped: Self.selection) FROM deployments
            WHERE (\(since)::text IS NULL OR created_at >= \(since)) AND (\(until)::text IS NULL OR created_at < \(until)) ORDER BY id
            """)
    }
}

extension PostgresQueueStore {
    /// What `/metrics` reads at each scrape, in one statement (so the figures agree): unfinished deployments by
    /// state, the age in seconds of the one waiting longest for approval (0 when none waits), the audit head.
    public func gaugeFigures() async throws(QueueStoreError) -> (byState: [TaskState: Int], oldestWaitingSeconds: Double, auditHeadSeq: Int64) {
        do {
            let rows = try await client.query("""
                SELECT
                  (SELECT coalesce(string_agg(state || '=' || n, ','), '') FROM
                     (SELECT state, count(*) AS n FROM deployments WHERE state NOT IN ('succeeded','failed','cancelled') GROUP BY state) s),
                  (SELECT coalesce(extract(epoch FROM now() - min(coalesce(waiting_since, updated_at)::timestamptz)), 0)::float8
                     FROM deployments WHERE state = 'awaiting_approval'),
                  (SELECT coalesce(max(seq), 0)::int8 FROM audit_log)
                """, logger: logger).collect()
            guard let row = rows.first else { return ([:], 0, 0) }
            let (states, oldest, head) = try row.decode((String, Double, Int64).self)
            var byState: [TaskState: Int] = [:]
            for pair in states.split(separator: ",") {
                let parts = pair.split(separator: "=")
                if parts.count == 2, let state = TaskState(rawValue: String(parts[0])), let n = Int(parts[1]) { byState[state] = n }
            }
            return (byState, max(0, oldest), head)
        } catch {
            throw wrap(error)
        }
    }
}
