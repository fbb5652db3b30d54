import AuditTrail
import Foundation
import Logging
import PostgresNIO
import QueueStore
import Synchronization

/// The queue on PostgreSQL, with the same contract as SQLite's `QueueStore`: producers insert rows with `psql`
/// (or any client) into `deployments`; the daemon moves them through their states. Open it with `withStore`,
/// which runs the connection pool for as long as the store is used.
public final class PostgresQueueStore: QueueStorage {
    /// The URL without a password, for logs.
    public let path: String
    let client: PostgresClient
    let logger: Logger
    let instance: String
    /// The epoch every write carries, once this daemon leads (nil: no lease is used, as in tests and `migrate`).
    let fence = Mutex<LeaseFence?>(nil)

    init(path: String, client: PostgresClient, logger: Logger, instance: String) {
        self.path = path
        self.client = client
        self.logger = logger
        self.instance = instance
    }

    public static var schemaVersion: String { PostgresSchema.currentVersion }

    /// Connects, migrates (unless `migrate` is false, then an outdated schema is an error), and runs `body` with
    /// the store. The pool runs in a child task and stops when `body` returns or throws.
    /// Throws `QueueStoreError` (with what to do) when the server cannot be reached, refuses the login, or the
    /// schema cannot be created; `body`'s own errors pass through.
    public static func withStore<Result: Sendable>(
        _ endpoint: PostgresEndpoint, logger: Logger, migrate: Bool = true,
        _ body: (PostgresQueueStore) async throws -> Result
    ) async throws -> Result {
        let configuration: PostgresClient.Configuration, probe: PostgresConnection.Configuration
        do {
            configuration = try endpoint.clientConfiguration()
            probe = try endpoint.connectionConfiguration()
        } catch {
            throw QueueStoreError.postgres(url: endpoint.url, message: error.message, fix: error.fix)
        }
        // The driver logs every query at debug level; the daemon's debug log is about deployments, not SQL.
        var logger = logger
        logger.logLevel = max(logger.logLevel, .notice)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
            group.addTask { await client.run() }
            do {
                // Also gives the pool's task the moment it needs to start before the first lease.
                try await Self.probe(probe, url: endpoint.url, logger: logger)
                let instance = try await open(client, url: endpoint.url, migrate: migrate, logger: logger)
                let result = try await body(PostgresQueueStore(path: endpoint.url, client: client, logger: logger, instance: instance))
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    /// One connection, opened and closed: the server's reason for a refusal (password, database, TLS), at once.
    static func probe(_ configuration: PostgresConnection.Configuration, url: String, logger: Logger) async throws(QueueStoreError) {
        do {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            try? await connection.close()
        } catch {
            throw wrap(error, url: url)
        }
    }

    /// Applies the missing migrations, each in its own transaction, under a transaction-level advisory lock so two
    /// daemons starting together do not both create the tables; returns the instance id.
    static func open(_ client: PostgresClient, url: String, migrate: Bool, logger: Logger) async throws(QueueStoreError) -> String {
        do {
            // Under the lock too: two daemons starting together would race on CREATE TABLE IF NOT EXISTS (which is not
            // safe against a concurrent creator: the loser fails on pg_type's unique index).
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
                try await connection.query("CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT \(unescaped: PostgresSchema.now))", logger: logger)
            }
            for (version, statements) in PostgresSchema.migrations {
                let applied = try await client.withTransaction(logger: logger) { connection in
                    try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
                    let rows = try await connection.query("SELECT version FROM schema_migrations WHERE version = \(version)", logger: logger).collect()
                    if !rows.isEmpty { return true }
                    guard migrate else { return false }
                    for statement in statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                    try await connection.query("INSERT INTO schema_migrations (version) VALUES (\(version))", logger: logger)
                    return true
                }
                if !applied {
                    throw QueueStoreError.postgres(url: url, message: "the schema is older than this changegate (migration \(version) is missing)",
                                                   fix: "start the daemon once to migrate it")
                }
            }
            let rows = try await client.query("SELECT value FROM meta WHERE key = 'instance_id'", logger: logger).collect()
            return try rows.first?.decode(String.self) ?? "0"
        } catch {
            throw wrap(error, url: url)
        }
    }

    /// Keys of the advisory locks, fixed so every changegate agrees ("cg" and a number).
    static let migrationLock: Int64 = 0x6367_0000_0001

    public func instanceID() throws(QueueStoreError) -> String { instance }

    func wrap(_ error: any Error) -> QueueStoreError { Self.wrap(error, url: path) }

    /// The key out of the server's detail, `Key (idempotency_key)=(release-7) already exists.`, as SQLite's
    /// error gives it; the whole detail when it has another shape.
    static func duplicateKey(inDetail detail: String) -> String {
        let prefix = "Key (idempotency_key)=(", suffix = ") already exists."
        guard detail.hasPrefix(prefix), detail.hasSuffix(suffix), detail.count > prefix.count + suffix.count else { return detail }
        return String(detail.dropFirst(prefix.count).dropLast(suffix.count))
    }

    /// Turns a driver error into one that says what to do. PSQLError's own description hides details on purpose;
    /// the server's message and SQLSTATE carry no secret, so they are shown.
    static func wrap(_ error: any Error, url: String) -> QueueStoreError {
        if let e = error as? QueueStoreError { return e }
        if let t = error as? PostgresTransactionError {
            if let inner = t.closureError ?? t.beginError ?? t.commitError { return wrap(inner, url: url) }
        }
        guard let p = error as? PSQLError else {
            return .postgres(url: url, message: "\(error)", fix: "see the PostgreSQL server's log")
        }
        switch p.code {
        case .server:
            let message = p.serverInfo?[.message] ?? "server error"
            let state = p.serverInfo?[.sqlState] ?? ""
            switch state {
            case "23505" where message.contains("deployments_idempotency"):
                return .duplicateIdempotencyKey(duplicateKey(inDetail: p.serverInfo?[.detail] ?? ""))
            case "28P01", "28000":
                return .postgres(url: url, message: message, fix: "check the user in the URL, database_password_file, and the server's pg_hba.conf")
            case "3D000":
                return .postgres(url: url, message: message, fix: "create the database (docs/postgresql.md shows how)")
            case "42501":
                return .postgres(url: url, message: message, fix: "grant the daemon role its rights (docs/postgresql.md, \"Roles\")")
            case "53100":
                return .storageFull(path: url)
            case "25006":
                return .readOnlyStorage(path: url)
            default:
                return .postgres(url: url, message: "\(message) (SQLSTATE \(state))", fix: "see the PostgreSQL server's log")
            }
        case .sslUnsupported:
            return .postgres(url: url, message: "the server does not offer TLS",
                             fix: "turn on ssl in the server's postgresql.conf, or use sslmode=disable for a server on loopback only")
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
            let why = p.underlying.map { "\($0)" } ?? "\(p.code)"
            return .postgres(url: url, message: "cannot talk to the server (\(why))",
                             fix: "check that it runs and accepts connections from this host (host, port, listen_addresses, pg_hba.conf); changegate retries")
        case .authMechanismRequiresPassword:
            return .postgres(url: url, message: "the server asks for a password and none is configured",
                             fix: "set database_password_file to a credential holding the password")
        default:
            return .postgres(url: url, message: String(reflecting: p.code), fix: "see the PostgreSQL server's log")
        }
    }
}
