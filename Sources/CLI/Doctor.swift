import ArgumentParser
import AuditTrail
import Doctor
import QueueStore

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
        let (config, configCheck) = Diagnostics.checkConfig(path: store.config)
        var checks = [configCheck]
        if let postgres = config?.daemon.postgres, store.database.map(QueueStore.isPostgresURL) ?? true {
            checks += await Diagnostics.checkPostgres(postgres, configFile: store.config)
        } else if let path = store.database ?? config?.daemon.database {
            checks += Diagnostics.checkDatabase(path: path)
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
            if connection == nil { checks += Diagnostics.checkWebhook(config) }
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
