import Foundation
import Logging
import PostgresQueue
import QueueStore
import TestSupport

/// One queue on one backend, with the tool a producer would use on it: the `sqlite3` CLI or `psql`.
/// The contract tests run the same checks through this on both backends.
enum Backend: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgresql
    var description: String { rawValue }
}

struct ContractQueue: Sendable {
    let backend: Backend
    let store: any QueueStorage
    /// Runs SQL as a producer (a superuser on PostgreSQL, the file's owner on SQLite); returns the output, or
    /// throws with the tool's error text.
    let producer: @Sendable (String) throws -> String

    /// A fresh queue on `backend`, removed afterwards (the PostgreSQL cluster with it), also when `body` fails.
    static func with(_ backend: Backend, _ body: (ContractQueue) async throws -> Void) async throws {
        switch backend {
        case .sqlite:
            let dir = NSTemporaryDirectory() + "cg-contract-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let path = "\(dir)/q.db"
            let store = try QueueStore(path: path)
            try await body(ContractQueue(backend: backend, store: store, producer: { sql in
                let r = try PostgresCluster.capture("/usr/bin/sqlite3", ["-cmd", ".timeout 10000", path, sql])
                guard r.status == 0 else { throw ClusterError("sqlite3 failed (\(r.status)): \(r.stderr)") }
                return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }))
        case .postgresql:
            try await PostgresCluster.with { cluster in
                try cluster.createDatabase("changegate")
                try await PostgresQueueStore.withStore(cluster.endpoint(), logger: testLogger) { store in
                    try await body(ContractQueue(backend: backend, store: store, producer: { try cluster.psql($0, database: "changegate") }))
                }
            }
        }
    }

    /// Inserts a row as a producer does and returns its id.
    func insert(_ columns: String, _ values: String) throws -> Int64 {
        let sql = backend == .sqlite
            ? "INSERT INTO deployments (\(columns)) VALUES (\(values)); SELECT last_insert_rowid();"
            : "INSERT INTO deployments (\(columns)) VALUES (\(values)) RETURNING id"
        let out = try producer(sql)
        guard let id = Int64(out) else { throw ClusterError("no row id from the producer's insert: \(out)") }
        return id
    }
}

extension PostgresCluster {
    /// The superuser over TCP with its password, without TLS (loopback).
    func endpoint(user: String? = nil, password: String? = nil) -> PostgresEndpoint {
        PostgresEndpoint(host: "127.0.0.1", port: port, user: user ?? superuser, password: password ?? self.password,
                         database: "changegate", tls: false)
    }
}

let testLogger: Logger = {
    var logger = Logger(label: "changegate.tests.postgres")
    logger.logLevel = .warning
    return logger
}()
