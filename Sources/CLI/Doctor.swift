import ArgumentParser
import AuditTrail
import ChangegateConfig
import Daemon
import Foundation
import QueueStore
#if canImport(Glibc)
import Glibc
#endif

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find out why the ServiceNow integration is not working: config, database, network, TLS, credentials, roles, templates, clock.",
        discussion: """
            Each check prints OK or FAIL (with a one-line fix), or SKIP when it could not be checked. Nothing is
            changed on the instance or in the database. Exit status 6 when any check fails.
            """)

    @OptionGroup var store: StoreOptions
    @Option(help: "Check only this ServiceNow connection (a [servicenow.NAME] of the config).") var connection: String?
    @Flag(help: "Print the checks as JSON.") var json = false

    func run() async throws {
        var checks: [DiagnosticCheck] = []
        var config: ChangegateConfiguration?
        do {
            let loaded = try ConfigLoader.load(path: store.config)
            config = loaded
            checks.append(DiagnosticCheck("config", .ok, "\(store.config): \(loaded.projects.count) project(s), \(loaded.environments.count) environment(s), \(loaded.connections.count) connection(s)"))
        } catch {
            // ConfigError's text ends with its own "fix:" line; keep the two apart.
            let lines = "\(error)".split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            let fix = lines.first { $0.hasPrefix("fix:") }.map { String($0.dropFirst(4)).trimmingCharacters(in: .whitespaces) }
            checks.append(DiagnosticCheck("config", .fail, lines.filter { !$0.hasPrefix("fix:") }.joined(separator: " "),
                                          fix: fix ?? "fix the key named above; `changegate check-config` checks the file again"))
        }
        if let path = store.database ?? config?.daemon.database {
            checks += DatabaseChecks.run(path: path)
        } else {
            checks.append(DiagnosticCheck("database", .notChecked, "not checked: no valid config to name it (or give --database)"))
        }
        if let config {
            if let connection, config.connections[connection] == nil {
                let known = config.connections.keys.sorted().joined(separator: ", ")
                throw ValidationError("--connection \(connection): no [servicenow.\(connection)] in \(store.config) (configured: \(known.isEmpty ? "none" : known))")
            }
            for (name, settings) in config.connections.sorted(by: { $0.key < $1.key }) where connection == nil || connection == name {
                checks += await Diagnostics.checkConnection(settings, config: config)
            }
        }
        print(json ? Self.json(checks) : Self.text(checks))
        if checks.contains(where: { $0.status == .fail }) { throw ExitCode(6) }
    }

    static func text(_ checks: [DiagnosticCheck]) -> String {
        var lines: [String] = []
        for c in checks {
            let label = switch c.status { case .ok: "OK  "; case .fail: "FAIL"; case .notChecked: "SKIP" }
            lines.append("\(label)  \(c.name): \(c.detail)")
            if c.status == .fail, let fix = c.fix { lines.append("      fix: \(fix)") }
        }
        let failed = checks.filter { $0.status == .fail }.count
        let skipped = checks.filter { $0.status == .notChecked }.count
        lines.append("")
        lines.append(failed == 0 ? "All checks passed" + (skipped > 0 ? " (\(skipped) not checked)." : ".")
            : "\(failed) check(s) failed" + (skipped > 0 ? ", \(skipped) not checked." : "."))
        return lines.joined(separator: "\n")
    }

    static func json(_ checks: [DiagnosticCheck]) -> String {
        let list: [AuditValue] = checks.map { c in
            .object(["name": .string(c.name), "status": .string(c.status.rawValue), "detail": .string(c.detail), "fix": .optional(c.fix)])
        }
        return CanonicalJSON.encode(.object(["ok": .bool(!checks.contains { $0.status == .fail }), "checks": .array(list)]))
    }
}

/// The database checks: present, writable by this user, WAL, current schema. Opened read-only: nothing is migrated.
enum DatabaseChecks {
    static func run(path: String) -> [DiagnosticCheck] {
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
