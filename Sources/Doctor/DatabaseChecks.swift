import Foundation
import QueueStore
#if canImport(Glibc)
import Glibc
#endif

extension Diagnostics {
    /// The database checks: present, writable by this user, WAL, current schema. Opened read-only: nothing is migrated.
    public static func checkDatabase(path: String) -> [DiagnosticCheck] {
        let directory = (path as NSString).deletingLastPathComponent
        guard FileManager.default.fileExists(atPath: path) else {
            return [DiagnosticCheck("database", .fail, "\(path) does not exist",
                                    fix: "start the daemon once (systemctl start changegate): it creates the database; check daemon.database")]
        }
        var checks: [DiagnosticCheck] = []
        let user = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid \(geteuid())"
        if access(path, W_OK) == 0, access(directory.isEmpty ? "." : directory, W_OK) == 0 {
            checks.append(DiagnosticCheck("database writable", .ok, "\(path) and its directory are writable by \(user)"))
        } else {
            checks.append(DiagnosticCheck("database writable", .fail, "\(path) or its directory is not writable by \(user) (SQLite needs both, for the -wal and -shm files)",
                                          fix: "run doctor as the daemon's user, or: chown -R changegate:changegate \(directory.isEmpty ? "." : directory) and chmod g+w for producers"))
        }
        do {
            let q = try QueueStore(path: path, readOnly: true)
            let mode = try q.journalMode()
            if mode.lowercased() == "wal" {
                checks.append(DiagnosticCheck("database WAL", .ok, "journal mode is WAL (producers and the daemon do not block each other)"))
            } else {
                checks.append(DiagnosticCheck("database WAL", .fail, "journal mode is \(mode), not WAL",
                                              fix: "stop the daemon and run: sqlite3 \(path) 'PRAGMA journal_mode=WAL'"))
            }
            checks.append(DiagnosticCheck("database schema", .ok, "schema is current (\(QueueStore.schemaVersion))"))
        } catch .schemaOutdated {
            checks.append(DiagnosticCheck("database schema", .fail, "\(path) has a schema older than \(QueueStore.schemaVersion)",
                                          fix: "start (or restart) the daemon once: it migrates the database"))
        } catch {
            checks.append(DiagnosticCheck("database", .fail, "\(error)", fix: "check that \(path) is a changegate database and readable by this user"))
        }
        return checks
    }
}
