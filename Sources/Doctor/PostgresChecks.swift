import ChangegateConfig
import Daemon
import Logging
import PostgresQueue
import QueueStore

extension Diagnostics {
    /// A PostgreSQL queue: the password can be read, the server accepts the login, the schema is current, and a
    /// daemon holds the leader lease. Nothing is migrated and nothing is written to the queue.
    public static func checkPostgres(_ settings: PostgresSettings, configFile: String) async -> [DiagnosticCheck] {
        let password: String?
        do {
            password = try settings.readPassword(configFile: configFile)
        } catch {
            return [DiagnosticCheck("database", .fail, "\(settings.url): \(error.problem)", fix: error.fix)]
        }
        let endpoint = PostgresEndpoint(settings, password: password, applicationName: "changegate doctor")
        var logger = Logger(label: "changegate.doctor")
        logger.logLevel = .error
        do {
            return try await PostgresQueueStore.withStore(endpoint, logger: logger, migrate: false) { queue in
                var checks = [
                    DiagnosticCheck("database", .ok, "\(endpoint.url) accepts the login of \(settings.user)"),
                    DiagnosticCheck("database schema", .ok, "schema is current (\(PostgresQueueStore.schemaVersion))"),
                ]
                let lease = try await queue.leaseHolder()
                let standbys = try await queue.daemons().filter { $0.role != "leader" }.count
                if lease.isHeld {
                    checks.append(DiagnosticCheck("database leader", .ok, "\(lease.summary) leads the queue; \(standbys) standby daemon(s) heard of in the last minute"))
                } else {
                    checks.append(DiagnosticCheck("database leader", .fail, "no daemon leads the queue (\(lease.summary)): deployments wait",
                                                  fix: "start changegate on at least one host (systemctl start changegate); `changegate status` lists the daemons heard of"))
                }
                return checks
            }
        } catch let QueueStoreError.postgres(url, message, fix) {
            return [DiagnosticCheck("database", .fail, "\(url): \(message)", fix: fix)]
        } catch {
            return [DiagnosticCheck("database", .fail, "\(endpoint.url): \(error)", fix: "check [daemon] database in \(configFile) and that the server runs")]
        }
    }
}
