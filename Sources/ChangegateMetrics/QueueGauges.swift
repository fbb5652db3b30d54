import Foundation
import GRDB
import Prometheus
import QueueContract

/// Figures read from the queue database at each scrape: what is in the database is the truth, so these are right
/// from the first scrape and across restarts. SQLite is read on a read-only connection of its own; PostgreSQL
/// through the daemon's pool (`init(read:)`, one statement, so the figures agree with each other).
public final class QueueGauges: Sendable {
    private let snapshot: @Sendable () async throws -> Snapshot
    private let registry: PrometheusCollectorRegistry

    public init(databasePath: String, registry: PrometheusCollectorRegistry) throws {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA cache_size = -128") }
        let database = try DatabaseQueue(path: databasePath, configuration: config)
        snapshot = { try Self.read(database) }
        self.registry = registry
    }

    /// Figures from another backend.
    public init(registry: PrometheusCollectorRegistry, read: @escaping @Sendable () async throws -> Snapshot) {
        snapshot = read
        self.registry = registry
    }

    public struct Snapshot: Sendable, Equatable {
        public var byState: [TaskState: Int]
        public var oldestWaitingSeconds: Double
        public var auditHeadSeq: Int64

        public init(byState: [TaskState: Int], oldestWaitingSeconds: Double, auditHeadSeq: Int64) {
            self.byState = byState
            self.oldestWaitingSeconds = oldestWaitingSeconds
            self.auditHeadSeq = auditHeadSeq
        }
    }

    /// Reads the figures once.
    public func read() async throws -> Snapshot { try await snapshot() }

    /// One read transaction, so the figures agree with each other.
    static func read(_ database: DatabaseQueue) throws -> Snapshot {
        try database.read { db in
            var byState: [TaskState: Int] = [:]
            let rows = try Row.fetchAll(db, sql: """
                SELECT state, count(*) AS n FROM deployments
                WHERE state NOT IN ('succeeded','failed','cancelled') GROUP BY state
                """)
            for row in rows { if let s = TaskState(rawValue: row["state"]) { byState[s] = row["n"] } }
            let oldest = try Double.fetchOne(db, sql: """
                SELECT (julianday('now') - julianday(min(coalesce(waiting_since, updated_at)))) * 86400.0
                FROM deployments WHERE state = 'awaiting_approval'
                """) ?? 0
            let head = try Int64.fetchOne(db, sql: "SELECT coalesce(max(seq), 0) FROM audit_log") ?? 0
            return Snapshot(byState: byState, oldestWaitingSeconds: max(0, oldest), auditHeadSeq: head)
        }
    }

    /// Refreshes the gauges from the database; on failure `changegate_database_readable` is 0 and the
    /// gauges keep their last values.
    public func refresh() async {
        let readable = registry.makeGauge(descriptor: DaemonMetrics.name(
            "changegate_database_readable", "1 when the last scrape could read the queue database, else 0."))
        guard let snapshot = try? await read() else {
            readable.set(to: 0)
            return
        }
        readable.set(to: 1)
        for state in TaskState.allCases where !state.isTerminal {
            registry.makeGauge(
                descriptor: DaemonMetrics.name("changegate_deployments", "Deployments not yet ended, by state."),
                labels: [("state", state.rawValue)]
            ).set(to: Double(snapshot.byState[state] ?? 0))
        }
        registry.makeGauge(descriptor: DaemonMetrics.name(
            "changegate_deploys_running", "Deploy commands running now (deployments in state executing)."))
            .set(to: Double(snapshot.byState[.executing] ?? 0))
        registry.makeGauge(descriptor: DaemonMetrics.name(
            "changegate_oldest_waiting_seconds", "Age of the deployment waiting longest for approval, 0 when none waits."))
            .set(to: snapshot.oldestWaitingSeconds)
        registry.makeGauge(descriptor: DaemonMetrics.name(
            "changegate_audit_head_seq", "Sequence number of the last audit record (the chain head)."))
            .set(to: Double(snapshot.auditHeadSeq))
    }
}
