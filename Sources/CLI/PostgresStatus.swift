import ChangegateConfig
import Daemon
import Foundation
import Logging
import PostgresQueue
import QueueStore

extension StoreOptions {
    /// The config's PostgreSQL queue, when it names one (and `--database` does not point elsewhere).
    /// `command` names the session in `pg_stat_activity` ("changegate status").
    func postgres(command: String = "status") throws -> (settings: PostgresSettings, endpoint: PostgresEndpoint)? {
        if let database, !QueueStore.isPostgresURL(database) { return nil }
        let loaded: ChangegateConfiguration
        do { loaded = try ConfigLoader.load(path: config) } catch { throw CLIError.config(error) }
        guard let p = loaded.daemon.postgres else { return nil }
        let password: String?
        do { password = try p.readPassword(configFile: config) } catch { throw CLIError.config(error) }
        return (p, PostgresEndpoint(p, password: password, applicationName: "changegate \(command)"))
    }
}

/// Commands print their own messages; the driver's are not for the terminal.
func quietLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .error
    return logger
}

extension Status {
    /// On a shared queue: who leads (host, pid, epoch), the daemons heard of in the last minute, then the tasks.
    func postgresStatus(_ queue: (settings: PostgresSettings, endpoint: PostgresEndpoint)) async throws {
        try await PostgresQueueStore.withStore(queue.endpoint, logger: quietLogger("changegate.status"), migrate: false) { q in
            if let id {
                guard let task = try await q.record(id) else { throw CLIError.store(.notFound(id: id)) }
                if json { print(try Self.json([Self.object(task)])) } else { print(Self.detail(task)) }
                return
            }
            let tasks = try await q.recent(limit: limit)
            if json {
                print(try Self.json(tasks.map(Self.object)))
                return
            }
            let lease = try await q.leaseHolder()
            let remaining = Double(lease.remaining.components.seconds) + Double(lease.remaining.components.attoseconds) / 1e18
            print("Leader: \(lease.summary)" + (lease.isHeld ? ", lease \(String(format: "%.1f", remaining)) s left of \(queue.settings.leaderLease)" : ""))
            for d in try await q.daemons() {
                print("  \(d.role) \(d.host) pid \(d.pid), heard of \(Int(d.secondsAgo.rounded())) s ago")
            }
            print("")
            print(Table.render(header: ["ID", "PROJECT", "ENVIRONMENT", "RELEASE", "STATE", "CHANGE", "OUTCOME"],
                               rows: tasks.map { t in
                                   [String(t.id), TaskRecord.display(t.raw.project), TaskRecord.display(t.raw.environment),
                                    String(TaskRecord.display(t.raw.release).prefix(24)), t.state.rawValue, t.changeNumber ?? "-", t.outcome?.rawValue ?? "-"]
                               }))
        }
    }
}
