import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRDB
import QueueContract

/// The SQLite queue: producers insert rows into `deployments`; the daemon moves them through their states.
/// WAL mode lets producers insert with the `sqlite3` CLI while the daemon reads and writes.
public final class QueueStore: Sendable {
    public let path: String
    let pool: DatabasePool

    /// Opens (creating and migrating unless `readOnly`) the database at `path`.
    public init(path: String, readOnly: Bool = false) throws(QueueStoreError) {
        self.path = path
        // A PostgreSQL URL must never become a file path (it would create directories named after the URL).
        // Only the daemon speaks PostgreSQL so far; the commands that open the file directly say so.
        if Self.isPostgresURL(path) { throw .postgresNotSupportedHere(url: Self.redacted(path)) }
        var config = Configuration()
        config.readonly = readOnly
        // Producers write too; wait for their short transactions instead of failing.
        config.busyMode = .timeout(10)
        // The daemon reads little at a time: two readers with a small page cache keep its memory low.
        config.maximumReaderCount = 2
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA cache_size = -512")
        }
        do {
            if !readOnly {
                try FileManager.default.createDirectory(
                    atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            }
            pool = try DatabasePool(path: path, configuration: config)
            if readOnly {
                let current = try pool.read { db in try Schema.migrator.hasCompletedMigrations(db) }
                if !current { throw QueueStoreError.schemaOutdated(path: path) }
            } else {
                try Schema.migrator.migrate(pool)
            }
        } catch let error as QueueStoreError {
            throw error
        } catch {
            let directory = (path as NSString).deletingLastPathComponent
            if !readOnly, access(directory.isEmpty ? "." : directory, W_OK) != 0, errno == EROFS {
                throw QueueStoreError.readOnlyStorage(path: path)
            }
            throw QueueStoreError.wrap(error, path: path, opening: true)
        }
    }

    /// The random id of this database, part of every correlation id so two installs never share one.
    public func instanceID() throws(QueueStoreError) -> String {
        try read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'instance_id'") ?? "0" }
    }

    public func journalMode() throws(QueueStoreError) -> String {
        try read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    /// Whether every migration this build knows has been applied.
    public func isSchemaCurrent() throws(QueueStoreError) -> Bool {
        try read { db in try Schema.migrator.hasCompletedMigrations(db) }
    }

    public static var schemaVersion: String { Schema.currentVersion }

    /// `PRAGMA data_version` of the writer connection: it moves only when another connection (a producer) has
    /// committed, never for this store's own writes. Blocks the calling thread while the writer is busy; not for
    /// the cooperative pool (`DatabaseWatcher` calls it from its own thread).
    public func writerDataVersion() throws(QueueStoreError) -> Int {
        do { return try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA data_version") ?? 0 } } catch {
            throw QueueStoreError.wrap(error, path: path)
        }
    }

    /// Whether `database` names a PostgreSQL queue rather than an SQLite file.
    public static func isPostgresURL(_ database: String) -> Bool {
        database.hasPrefix("postgresql://") || database.hasPrefix("postgres://")
    }

    /// The URL without a password, should one have been written into it, for messages and logs.
    public static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        let userInfo = url[scheme.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    func read<T>(_ body: (Database) throws -> T) throws(QueueStoreError) -> T {
        do { return try pool.read(body) } catch { throw QueueStoreError.wrap(error, path: path) }
    }

    func write<T>(_ body: (Database) throws -> T) throws(QueueStoreError) -> T {
        do { return try pool.write(body) } catch { throw QueueStoreError.wrap(error, path: path) }
    }
}

public enum QueueStoreError: Error, Sendable, CustomStringConvertible {
    case open(path: String, underlying: String)
    case schemaOutdated(path: String)
    case storageFull(path: String)
    case readOnlyStorage(path: String)
    case sqlite(path: String, message: String)
    case alreadyRunning(path: String, pid: String)
    case notFound(id: Int64)
    case duplicateIdempotencyKey(String)
    /// A PostgreSQL queue's error; `fix` says what the operator should do.
    case postgres(url: String, message: String, fix: String)
    /// A command that reads the SQLite file directly was given a PostgreSQL queue.
    case postgresNotSupportedHere(url: String)
    /// A write of a leader whose lease is gone (expired here, or a newer epoch exists): refused, never applied.
    case notLeader(url: String, epoch: Int64, reason: String)

    public var description: String {
        switch self {
        case .open(let path, let underlying):
            "cannot open the database \(path): \(underlying). Check that the directory exists and is writable by the changegate user."
        case .schemaOutdated(let path):
            "the database \(path) has an older schema; start the daemon (or run any write command) once to migrate it."
        case .storageFull(let path):
            "the file system holding \(path) is full; free space there. changegate retries and carries on when space returns."
        case .readOnlyStorage(let path):
            "the database \(path) is read-only (or on a read-only file system); make it and its directory writable by the changegate user."
        case .sqlite(let path, let message):
            "database error on \(path): \(message)"
        case .alreadyRunning(let path, let pid):
            "another changegate daemon (pid \(pid)) is using \(path); stop it first, or give this one another database path."
        case .notFound(let id):
            "no deployment with id \(id); `changegate status` lists them."
        case .duplicateIdempotencyKey(let key):
            "an unfinished deployment already has idempotency_key \"\(key)\"; wait for it to finish or use another key."
        case .postgres(let url, let message, let fix):
            "PostgreSQL queue \(url): \(message); \(fix)"
        case .postgresNotSupportedHere(let url):
            "\(url) is a PostgreSQL queue, which this reads only through a config: set it as [daemon] database with database_password_file, and give that config with --config instead of --database."
        case .notLeader(let url, let epoch, let reason):
            "this daemon no longer leads \(url) (its epoch \(epoch): \(reason)); the write was refused. It stops its deploys and restarts as a standby."
        }
    }

    /// Full or read-only storage is expected to pass; the daemon keeps trying.
    public var isStorageTrouble: Bool {
        switch self {
        case .storageFull, .readOnlyStorage: true
        default: false
        }
    }

    static func wrap(_ error: any Error, path: String, opening: Bool = false) -> QueueStoreError {
        if let e = error as? QueueStoreError { return e }
        if opening, let db = error as? DatabaseError, db.resultCode != .SQLITE_FULL, db.resultCode != .SQLITE_READONLY {
            return .open(path: path, underlying: "\(error)")
        }
        if let db = error as? DatabaseError {
            switch db.resultCode {
            case .SQLITE_FULL: return .storageFull(path: path)
            case .SQLITE_READONLY: return .readOnlyStorage(path: path)
            case .SQLITE_IOERR where db.message?.contains("disk") == true: return .storageFull(path: path)
            default: return .sqlite(path: path, message: db.message ?? "\(db.resultCode)")
            }
        }
        return .sqlite(path: path, message: "\(error)")
    }
}
