import Foundation
import TOMLKit

/// Loads and validates `changegate.toml`. Every failure names the file, the line where known, the key and the fix.
public enum ConfigLoader {
    public static let defaultPath = "/etc/changegate/changegate.toml"

    public static func load(path: String) throws(ConfigError) -> ChangegateConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(file: path, key: "", problem: "cannot be read (\(error.localizedDescription))",
                              fix: "create it from etc/changegate.toml, or pass --config PATH")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws(ConfigError) -> ChangegateConfiguration {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw ConfigError(file: path, line: e.source.begin.line, key: "", problem: "is not valid TOML: \(e.description)",
                              fix: "correct the syntax at line \(e.source.begin.line), column \(e.source.begin.column)")
        } catch {
            throw ConfigError(file: path, key: "", problem: "is not valid TOML: \(error)", fix: "correct the syntax")
        }
        let lines = LineIndex(text: text, file: path)
        var top = TableReader(root, keyPath: "", locate: lines.error)

        var daemon = DaemonSettings()
        if let t = try top.subtable("daemon") {
            var r = TableReader(t, keyPath: "daemon", locate: lines.error)
            let passwordFile = try r.string("database_password_file", example: "changegate-database-password")
            if let db = try r.string("database", example: "/var/lib/changegate/changegate.db") {
                if db.hasPrefix("postgresql:") || db.hasPrefix("postgres:") {
                    daemon.postgres = try PostgresSettings.parse(db, passwordFile: passwordFile) { r.error("database", $0, fix: $1) }
                } else {
                    guard db.hasPrefix("/") || db.hasPrefix(".") else {
                        throw r.error("database", "must be a path or a postgresql:// URL", fix: "database = \"/var/lib/changegate/changegate.db\"")
                    }
                }
                daemon.database = db
            }
            if passwordFile != nil, daemon.postgres == nil {
                throw r.error("database_password_file", "is only for a PostgreSQL database", fix: "remove it, or set database = \"postgresql://…\"")
            }
            if let lease = try r.duration("leader_lease", example: "8s") {
                guard daemon.postgres != nil else {
                    throw r.error("leader_lease", "is only for a PostgreSQL database (several daemons, one leader)", fix: "remove it, or set database = \"postgresql://…\"")
                }
                guard lease >= .seconds(3), lease <= .seconds(300) else {
                    throw r.error("leader_lease", "must be between 3s and 300s", fix: "leader_lease = \"8s\"")
                }
                daemon.postgres?.leaderLease = lease
            }
            daemon.pollInterval = try r.duration("poll_interval", example: "1s") ?? daemon.pollInterval
            guard daemon.pollInterval >= .milliseconds(100) else {
                throw r.error("poll_interval", "is too short; ServiceNow rate limits would bite", fix: "poll_interval = \"1s\"")
            }
            // Shorter than poll_interval simply makes every poll a full read.
            daemon.reconcileInterval = try r.duration("reconcile_interval", example: "60s") ?? daemon.reconcileInterval
            daemon.pollOverlap = try r.duration("poll_overlap", example: "5s") ?? daemon.pollOverlap
            guard daemon.pollOverlap >= .seconds(2) else {
                throw r.error("poll_overlap", "must be at least 2s: ServiceNow's timestamps have whole seconds and requests take time",
                              fix: "poll_overlap = \"5s\"")
            }
            daemon.intakeInterval = try r.duration("intake_interval", example: "1s") ?? daemon.intakeInterval
            daemon.logLevel = try r.string("log_level", example: "info") ?? daemon.logLevel
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(daemon.logLevel) else {
                throw r.error("log_level", "must be one of trace, debug, info, notice, warning, error, critical", fix: "log_level = \"info\"")
            }
            daemon.drainTimeout = try r.duration("drain_timeout", example: "10m") ?? daemon.drainTimeout
            daemon.testHangFile = try r.string("test_hang_file", example: "/run/changegate-test-hang")
            daemon.metricsListen = try MetricsListen.read(&r)
            daemon.webhook = try WebhookSettings.read(&r)
            try r.rejectUnknownKeys()
        }

        var connections: [String: ConnectionSettings] = [:]
        for (name, t) in try namedTables(&top, "servicenow") {
            connections[name] = try ConnectionParser.parse(name: name, table: t, lines: lines)
        }

        var environments: [String: EnvironmentSettings] = [:]
        for (name, t) in try namedTables(&top, "environments") {
            var r = TableReader(t, keyPath: "environments.\(name)", locate: lines.error)
            environments[name] = EnvironmentSettings(name: name, changeControlled: try r.bool("change_controlled") ?? false)
            try r.rejectUnknownKeys()
        }

        var projects: [String: ProjectSettings] = [:]
        for (name, t) in try namedTables(&top, "projects") {
            projects[name] = try ProjectParser.parse(name: name, table: t, lines: lines, connections: connections,
                                                     environments: Set(environments.keys))
        }
        try top.rejectUnknownKeys()
        return ChangegateConfiguration(path: path, daemon: daemon, connections: connections,
                                       environments: environments, projects: projects)
    }

    static func namedTables(_ r: inout TableReader, _ key: String) throws(ConfigError) -> [(String, TOMLTable)] {
        guard let t = try r.subtable(key) else { return [] }
        var result: [(String, TOMLTable)] = []
        for name in t.keys.sorted() {
            guard let sub = t[name]?.table else {
                throw r.error("\(key).\(name)", "must be a table", fix: "write it as [\(key).\(name)]")
            }
            result.append((name, sub))
        }
        return result
    }
}

/// Finds the line of a dotted key in the file text, so errors can point at it.
struct LineIndex: Sendable {
    let lines: [Substring]
    let file: String

    init(text: String, file: String) {
        self.lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        self.file = file
    }

    func error(_ keyPath: String) -> ConfigError {
        ConfigError(file: file, line: line(of: keyPath), key: keyPath, problem: "", fix: "")
    }

    func line(of keyPath: String) -> Int? {
        var parts = keyPath.split(separator: ".").map(String.init)
        guard let last = parts.popLast() else { return nil }
        var start = 0
        if !parts.isEmpty {
            let header = parts.joined(separator: ".")
            let quoted = parts.dropLast().joined(separator: ".") + ".\"\(parts.last!)\""
            guard let h = lines.firstIndex(where: { l in
                let t = l.trimmingCharacters(in: .whitespaces)
                return t == "[\(header)]" || t == "[\(quoted)]"
            }) else {
                return lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "[\(header).\(last)]" }).map { $0 + 1 }
            }
            start = h + 1
        }
        for i in start..<lines.count {
            let t = lines[i].trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("[") { break }  // the next table starts: the key is not in this one
            if t.hasPrefix(last + " ") || t.hasPrefix(last + "=") || t.hasPrefix("\"\(last)\"") { return i + 1 }
        }
        return start > 0 ? start : nil
    }
}
