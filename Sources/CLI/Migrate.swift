import ArgumentParser
import ChangegateConfig
import Daemon
import Foundation
import Logging
import PostgresQueue
import QueueStore

/// `changegate migrate --to postgresql://…`: moves a site from its SQLite queue to PostgreSQL. The daemon must be
/// stopped (its lock is taken for the copy). The audit chain is verified in the file first and in the target
/// after; the copy is one transaction, so a failure leaves the target empty.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy an SQLite queue (rows, task logs, audit chain) into an empty PostgreSQL database.")

    @OptionGroup var store: StoreOptions
    @Option(help: "The PostgreSQL queue, as the config will name it: postgresql://USER@HOST:5432/DB?sslmode=verify-full")
    var to: String
    @Option(help: "A file of mode 0600 or 0400 holding the database password (none: no password is sent).")
    var passwordFile: String?

    func run() async throws {
        try await reporting {
            let path = try store.databasePath()
            guard !QueueStore.isPostgresURL(path) else { throw CLIError.failure("\(path) is already a PostgreSQL queue; --database names the SQLite file to copy") }
            let settings = try PostgresSettings.parse(commandLine: to, option: "--to", passwordFile: passwordFile)
            let password = try settings.readPassword(configFile: "command line")
            let lock = try InstanceLock(databasePath: path)
            defer { withExtendedLifetime(lock) {} }
            let source = try QueueStore(path: path)
            let before = try source.verifyAuditChain()
            if let failure = before.failure {
                throw CLIError.failure("the audit chain of \(path) is broken at record \(failure.seq) (\(failure.why)); nothing was copied. `changegate audit verify` shows it.")
            }
            let instance = try source.instanceID()
            var logger = Logger(label: "changegate.migrate")
            logger.logLevel = .error
            let endpoint = PostgresEndpoint(settings, password: password, applicationName: "changegate migrate")
            let cursor = ExportCursor(source)
            let (counts, after) = try await PostgresQueueStore.withStore(endpoint, logger: logger) { target in
                guard try await target.queueRowCount() == 0 else {
                    throw CLIError.failure("\(endpoint.url) already holds a queue (rows in deployments, task_log or audit_log); migrate into an empty database")
                }
                let counts = try await target.importQueue(instanceID: instance,
                                                          tables: QueueStore.exportedTables.map { ($0.table, $0.columns) },
                                                          next: { table in try cursor.next(table) })
                return (counts, try await target.verifyAuditChain())
            }
            guard after.failure == nil, after.count == before.count, after.head == before.head else {
                throw CLIError.failure("the audit chain in \(endpoint.url) does not match the file's (\(after.count) records, head \(after.head.hash.prefix(12)) against \(before.count), \(before.head.hash.prefix(12))); look at the server's log before using it")
            }
            print("""
                Copied \(counts["deployments"] ?? 0) deployments, \(counts["task_log"] ?? 0) log lines, \(counts["audit_log"] ?? 0) audit records \
                and \(counts["integration_errors"] ?? 0) integration errors from \(path) to \(endpoint.url).
                Audit chain verified in both: \(after.count) records, head \(after.head.hash.prefix(16)).
                Next: set database = "\(to)" (and database_password_file) in the config of every daemon host, then start the daemons.
                """)
        }
    }
}

/// Reads the source page by page, remembering where each table got to.
final class ExportCursor: @unchecked Sendable {
    private let store: QueueStore
    private var last: [String: Int64] = [:]
    private let lock = NSLock()

    init(_ store: QueueStore) { self.store = store }

    func next(_ table: String) throws -> [[String?]] {
        try lock.withLock {
            let page = try store.exportPage(table, after: last[table] ?? Int64.min, limit: 1_000)
            if let key = page.last?.first.flatMap({ $0 }).flatMap(Int64.init) { last[table] = key }
            return page
        }
    }
}
