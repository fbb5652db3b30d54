import Foundation
import NIOSSL
import PostgresNIO

/// Where a PostgreSQL queue is and how to reach it. The password comes from a credential and is never part of
/// `url`, which is what logs and messages show.
public struct PostgresEndpoint: Sendable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    /// TLS with full verification (CA and host name); false only for loopback or trusted networks.
    public var tls: Bool
    /// PEM file of the CA(s) to trust; nil: the system's trust store.
    public var rootCertificate: String?
    /// Shown to the server (`pg_stat_activity.application_name`).
    public var applicationName: String
    /// The server ends a session of this client that sits inside a transaction for longer (and so releases its
    /// locks): a frozen leader must not hold the lease row's lock, and with it every takeover, for ever.
    public var idleInTransactionTimeout: Duration?

    public init(host: String, port: Int, user: String, password: String?, database: String, tls: Bool,
                rootCertificate: String? = nil, applicationName: String = PostgresEndpoint.defaultApplicationName) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
        self.rootCertificate = rootCertificate
        self.applicationName = applicationName
    }

    /// "changegate pid N on HOST": enough for an operator to find the daemon that holds the queue.
    public static var defaultApplicationName: String {
        "changegate pid \(ProcessInfo.processInfo.processIdentifier) on \(ProcessInfo.processInfo.hostName)"
    }

    /// For messages: no password, ever.
    public var url: String { "postgresql://\(user)@\(host):\(port)/\(database)?sslmode=\(tls ? "verify-full" : "disable")" }

    /// Settings every session starts with (PostgreSQL takes any setting in the startup packet).
    var startupParameters: [(String, String)] {
        var parameters = [("application_name", String(applicationName.prefix(63)))]
        if let idleInTransactionTimeout {
            parameters.append(("idle_in_transaction_session_timeout", "\(max(1, idleInTransactionTimeout.components.seconds * 1000 + idleInTransactionTimeout.components.attoseconds / 1_000_000_000_000_000))"))
        }
        return parameters
    }

    func tlsConfiguration() throws(QueueStoreErrorBox) -> TLSConfiguration? {
        guard tls else { return nil }
        var context = TLSConfiguration.makeClientConfiguration()
        context.certificateVerification = .fullVerification
        if let rootCertificate {
            guard FileManager.default.isReadableFile(atPath: rootCertificate) else {
                throw QueueStoreErrorBox(message: "the CA file \(rootCertificate) (sslrootcert) cannot be read",
                                         fix: "check the path and that the changegate user can read it")
            }
            context.trustRoots = .file(rootCertificate)
        }
        return context
    }

    /// One connection with the pool's settings: the first one is made alone, so a refused login or a missing
    /// database is reported with the server's own reason (the pool only says it gave up).
    func connectionConfiguration() throws(QueueStoreErrorBox) -> PostgresConnection.Configuration {
        var mode = PostgresConnection.Configuration.TLS.disable
        if let context = try tlsConfiguration() {
            do { mode = .require(try NIOSSLContext(configuration: context)) } catch {
                throw QueueStoreErrorBox(message: "TLS cannot be set up: \(error)", fix: "check sslrootcert")
            }
        }
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: mode)
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }

    func clientConfiguration() throws(QueueStoreErrorBox) -> PostgresClient.Configuration {
        let mode: PostgresClient.Configuration.TLS
        if let context = try tlsConfiguration() {
            mode = .require(context)
        } else {
            mode = .disable
        }
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: mode)
        configuration.options.additionalStartupParameters = startupParameters
        // The scheduler writes from one loop; a few connections cover it, the LISTEN session and the queue lock.
        configuration.options.maximumConnections = 6
        return configuration
    }
}

/// An error found before there is a URL to name in a `QueueStoreError`.
struct QueueStoreErrorBox: Error {
    var message: String
    var fix: String
}
