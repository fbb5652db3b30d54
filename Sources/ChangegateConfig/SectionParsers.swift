import Foundation
import TOMLKit

enum ConnectionParser {
    static func parse(name: String, table: TOMLTable, lines: LineIndex) throws(ConfigError) -> ConnectionSettings {
        var r = TableReader(table, keyPath: "servicenow.\(name)", locate: lines.error)
        guard let url = try r.string("url", example: "https://acme.service-now.com") else {
            throw r.error("url", "is missing", fix: "url = \"https://acme.service-now.com\"")
        }
        guard let parsed = URL(string: url), ["https", "http"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw r.error("url", "is not an http(s) URL", fix: "url = \"https://acme.service-now.com\"")
        }
        let authText = try r.string("auth", example: "password") ?? "password"
        guard let auth = AuthKind(rawValue: authText) else {
            throw r.error("auth", "must be one of \(AuthKind.allCases.map(\.rawValue).joined(separator: ", "))", fix: "auth = \"password\"")
        }
        var c = ConnectionSettings(name: name, url: url, auth: auth)
        c.clientID = try r.string("client_id", example: "changegate")
        c.username = try r.string("username", example: "svc.changegate")
        c.clientSecretFile = try r.string("client_secret_file", example: "servicenow-\(name)-client-secret")
        c.passwordFile = try r.string("password_file", example: "servicenow-\(name)-password")
        c.refreshTokenFile = try r.string("refresh_token_file", example: "servicenow-\(name)-refresh-token")
        c.caBundle = try r.string("ca_bundle", example: "/etc/ssl/certs/acme-ca.pem")
        c.timeout = try r.duration("timeout", example: "30s") ?? c.timeout
        c.maxConcurrentRequests = try r.int("max_concurrent_requests", range: 1...64) ?? c.maxConcurrentRequests
        c.statusBatchSize = try r.int("status_batch_size", range: 1...500) ?? c.statusBatchSize
        c.requestsPerHour = try r.int("requests_per_hour", range: 120...1_000_000) ?? c.requestsPerHour
        for key in ["client_secret", "password", "refresh_token"] where table[key] != nil {
            throw r.error(key, "secrets are never written in the config", fix: "put it in a credential file and set \(key)_file = \"servicenow-\(name)-\(key.replacingOccurrences(of: "_", with: "-"))\"")
        }
        let needs: [(Bool, String, String?)] = [
            (auth != .basic, "client_id", c.clientID),
            (auth != .basic, "client_secret_file", c.clientSecretFile),
            (auth == .password || auth == .basic, "username", c.username),
            (auth == .password || auth == .basic, "password_file", c.passwordFile),
            (auth == .refreshToken, "refresh_token_file", c.refreshTokenFile),
        ]
        for (required, key, value) in needs where required && (value ?? "").isEmpty {
            throw r.error(key, "is required for auth = \"\(auth.rawValue)\"", fix: "set \(key) in [servicenow.\(name)]")
        }
        try r.rejectUnknownKeys()
        return c
    }
}

enum ProjectParser {
    static func parse(name: String, table: TOMLTable, lines: LineIndex,
                      connections: [String: ConnectionSettings], environments: Set<String> = []) throws(ConfigError) -> ProjectSettings {
        var r = TableReader(table, keyPath: "projects.\(name)", locate: lines.error)
        let example = #"["/usr/local/bin/deploy-web", "--verbose"]"#
        guard let command = try r.stringArray("command", example: example), let first = command.first, !first.isEmpty else {
            throw r.error("command", "is missing or empty: every project needs the deploy command it runs", fix: "command = \(example)")
        }
        var p = ProjectSettings(name: name, changeControlled: try r.bool("change_controlled") ?? false, command: command)
        p.shell = try r.bool("shell") ?? false
        if p.shell, command.count != 1 {
            throw r.error("command", "with shell = true must be one string, run with /bin/sh -c", fix: #"command = ["deploy.sh && notify.sh"]"#)
        }
        if !p.shell, !first.hasPrefix("/") {
            throw r.error("command", "must start with an absolute path (\(first) is not one)", fix: "command = [\"/usr/local/bin/\(first)\", …]")
        }
        p.connection = try r.string("connection", example: "default")
        if p.changeControlled {
            let conn = p.connection ?? (connections.count == 1 ? connections.keys.first : nil)
            guard let conn, connections[conn] != nil else {
                let known = connections.keys.sorted().joined(separator: ", ")
                throw r.error("connection", p.connection == nil ? "is needed for a change-controlled project" : "names no [servicenow.\(p.connection!)] connection (known: \(known.isEmpty ? "none" : known))",
                              fix: "connection = \"\(connections.keys.sorted().first ?? "default")\" and a [servicenow.NAME] table")
            }
            p.connection = conn
        }
        p.changeTemplate = try r.string("change_template", example: "Deploy web-shop")
        p.titleFormat = try r.string("title", example: ProjectSettings.defaultTitle) ?? p.titleFormat
        guard p.titleFormat.contains("{release}") else {
            throw r.error("title", "must contain {release}, or every release would share one change", fix: "title = '\(ProjectSettings.defaultTitle)'")
        }
        p.changeFields = try r.stringTable("change_fields", example: "[projects.\(name).change_fields]\nassignment_group = \"…\"") ?? [:]
        for reserved in ["short_description", "correlation_id", "state", "type", "description"] where p.changeFields[reserved] != nil {
            throw r.error("change_fields.\(reserved)", "is set by changegate", fix: "remove it (use `title` for the short description)")
        }
        p.workingDirectory = try r.string("working_directory", example: "/srv/deploy")
        p.environment = try r.stringTable("environment", example: "[projects.\(name).environment]\nDEPLOY_TARGET = \"…\"") ?? [:]
        p.approvalTimeout = try r.duration("approval_timeout", example: "72h") ?? p.approvalTimeout
        if let t = try r.duration("execution_timeout", example: "1h") { p.executionTimeout = t == .zero ? nil : t }
        p.killGrace = try r.duration("kill_grace", example: "30s") ?? p.killGrace
        p.maxConcurrent = try r.int("max_concurrent", range: 1...1000) ?? p.maxConcurrent
        if let close = try r.string("close_change", example: "review") {
            guard let b = CloseBehaviour(rawValue: close) else {
                throw r.error("close_change", "must be none, review or closed", fix: "close_change = \"review\"")
            }
            p.closeChange = b
        }
        p.workNotes = try r.bool("work_notes") ?? true
        try ScheduleGateParser.parse(&p, &r)
        for (env, t) in try ConfigLoader.namedTables(&r, "environments") {
            guard environments.contains(env) else {
                let known = environments.sorted().joined(separator: ", ")
                throw r.error("environments.\(env)", "names no [environments.\(env)] (known: \(known.isEmpty ? "none" : known))",
                              fix: "add [environments.\(env)], or correct the name in [projects.\(name).environments.\(env)]")
            }
            var e = TableReader(t, keyPath: "projects.\(name).environments.\(env)", locate: lines.error)
            p.environmentOverrides[env] = try ScheduleGateParser.override(&e)
            try e.rejectUnknownKeys()
        }
        try r.rejectUnknownKeys()
        return p
    }
}
