import ChangegateConfig
import Foundation
import ServiceNowClient

/// The HTTP checks of one connection, all through the connection's `ServiceNowClient`. Nothing here changes
/// anything on the instance: the write check sends an update for a change that cannot exist, and reads the
/// user's roles.
struct ServiceNowProbe {
    let name: String
    let settings: ConnectionSettings
    let client: ServiceNowClient
    var checks: [DiagnosticCheck] = []

    static let writeRoles: Set<String> = ["itil", "sn_change_write", "change_manager", "admin"]

    init(name: String, settings: ConnectionSettings, client: ServiceNowClient) {
        self.name = name
        self.settings = settings
        self.client = client
    }

    var user: String { settings.username ?? "the OAuth application user" }

    mutating func add(_ what: String, _ status: DiagnosticCheck.Status, _ detail: String, fix: String? = nil) {
        checks.append(DiagnosticCheck("\(name) \(what)", status, detail, fix: fix))
    }

    mutating func run(scheme: String, host: String, projects: [ProjectSettings]) async -> [DiagnosticCheck] {
        if scheme == "https" {
            do throws(ServiceNowError) {
                let status = try await client.probeRoot()
                add("TLS", .ok, "TLS handshake with \(host) succeeded, certificate verified (HTTP \(status))")
            } catch {
                add("TLS", .fail, "TLS or HTTP failed: \(error)",
                    fix: "if the instance uses a private CA, set \(name).ca_bundle; check this host's clock and that the URL's host matches the certificate")
                for w in ["OAuth token", "read changes", "delta poll", "templates", "write access", "clock"] { add(w, .notChecked, "not checked: no TLS connection") }
                return checks
            }
        } else {
            add("TLS", .notChecked, "not checked: \(name).url is plain http:// (only for test instances; real instances need https)")
        }
        guard await token() else {
            for w in ["read changes", "delta poll", "templates", "write access", "clock"] { add(w, .notChecked, "not checked: no access token") }
            return checks
        }

        let before = Date()
        var serverDate: Date?
        var canRead = false
        do throws(ServiceNowError) {
            serverDate = try await client.serverDate()
            canRead = true
            add("read changes", .ok, "change requests can be read as \(user)")
        } catch {
            add("read changes", .fail, error.description, fix: fix(for: error))
        }
        let after = Date()

        if canRead { await deltaQuery() } else { add("delta poll", .notChecked, "not checked: change requests cannot be read") }

        let templates = Dictionary(grouping: projects.filter { $0.changeTemplate != nil }, by: { $0.changeTemplate! })
        if !canRead, !templates.isEmpty {
            add("templates", .notChecked, "not checked: change requests cannot be read")
        }
        for (template, users) in templates.sorted(by: { $0.key < $1.key }) where canRead {
            let keys = users.map { "projects.\($0.name).change_template" }.sorted().joined(separator: ", ")
            do throws(ServiceNowError) {
                if let found = try await client.standardTemplate(named: template) {
                    add("template \"\(template)\"", .ok, "found (sys_id \(found.sysID)), used by \(keys)")
                } else {
                    add("template \"\(template)\"", .fail, "no active standard change template is named \"\(template)\" (\(keys))",
                        fix: "set \(keys) to the exact name of an active standard change template, or ask the ServiceNow administrator to activate it")
                }
            } catch {
                add("template \"\(template)\"", .fail, error.description, fix: fix(for: error))
            }
        }

        // Every configured CI of the projects on this connection; a missing one would fail each create.
        let cis = Self.configurationItemKeys(projects)
        if !canRead, !cis.isEmpty {
            add("CIs", .notChecked, "not checked: change requests cannot be read")
        } else if !cis.isEmpty {
            await checkConfigurationItems(cis)
        }

        await writeAccess()

        if let serverDate {
            let skew = serverDate.timeIntervalSince(before.addingTimeInterval(after.timeIntervalSince(before) / 2))
            let text = String(format: "%+.1f s", skew)
            if abs(skew) <= Diagnostics.maxClockSkew {
                add("clock", .ok, "the instance's clock differs from this host's by \(text) (Date header, 1 s resolution)")
            } else {
                add("clock", .fail, "the instance's clock differs from this host's by \(text)",
                    fix: "synchronise this host's clock (timedatectl set-ntp true, or chrony): change windows are checked against it")
            }
        } else {
            add("clock", .notChecked, canRead ? "not checked: the instance sent no Date header" : "not checked: no answer to read the Date header from")
        }
        return checks
    }

    /// The poll asks the Table API for changes updated in the last seconds with a relative date operator; an instance
    /// that dropped the clause as unknown would answer with every change each second, and one that refuses the Table API
    /// would leave every poll failing.
    mutating func deltaQuery() async {
        do throws(ServiceNowError) {
            switch try await client.honoursRelativeDates() {
            case true?:
                add("delta poll", .ok, "the Table API answers change_request queries with sys_updated_onRELATIVEGE (the poll's delta read)")
            case false?:
                add("delta poll", .fail, "the instance ignored the relative date clause: every poll would read every change",
                    fix: "report the instance's version to the changegate maintainers; until then set reconcile_interval = poll_interval to read by number")
            case nil:
                add("delta poll", .notChecked, "not checked: the instance has no change request to tell the answers apart by")
            }
        } catch {
            add("delta poll", .fail, "the Table API refused the poll's read of change_request: \(error)",
                fix: "give \(user) read access to the change_request table through the Table API (role itil or sn_change_read with the table's read ACL)")
        }
    }

    /// The token check, with the instance's own answer when it refuses; the client keeps the token it got.
    mutating func token() async -> Bool {
        let probe: TokenProbe?
        do throws(ServiceNowError) {
            probe = try await client.probeToken()
        } catch {
            add("OAuth token", .fail, "no answer from /oauth_token.do: \(error)", fix: "check \(name).url points at the instance root")
            return false
        }
        guard let probe else {
            add("OAuth token", .notChecked, "not checked: \(name).auth is basic (no OAuth token is used)")
            return true
        }
        let grant = probe.grant
        switch probe.outcome {
        case .issued(let expiresIn):
            let expires = expiresIn.map { " (expires in \($0.components.seconds) s)" } ?? ""
            add("OAuth token", .ok, "\(grant) grant: token issued\(expires)")
            return true
        case .refused(let status, let answer):
            add("OAuth token", .fail, "\(grant) grant refused: the instance answered HTTP \(status) \(Self.excerpt(answer))",
                fix: "check \(name).client_id, the client secret file, "
                    + (grant == "password" ? "the user name and password file (user active, web service access), " : "")
                    + (grant == "refresh_token" ? "that the refresh token has not expired, " : "")
                    + "and that the OAuth application is active")
            return false
        }
    }

    /// 403 on an update of a change that does not exist proves the user may not write. 404 proves nothing
    /// (a real instance looks the record up first), so the user's roles decide, when they can be read.
    mutating func writeAccess() async {
        do throws(ServiceNowError) {
            try await client.probeWriteAccess()
            add("write access", .notChecked, "not checked: the instance accepted an update of a change that should not exist")
        } catch .forbidden(_, let message, let detail) {
            add("write access", .fail, "\(user) may not update change requests (HTTP 403 \(message)\(detail.map { ": \($0)" } ?? ""))",
                fix: "give \(user) the role sn_change_write or itil (changegate creates changes, adds work notes and closes them)")
        } catch .notFound {
            if let roles = await roles(), !roles.isDisjoint(with: Self.writeRoles) {
                add("write access", .ok, "\(user) has the role \(roles.intersection(Self.writeRoles).sorted().joined(separator: ", ")); an update was not refused")
            } else {
                add("write access", .notChecked, "not checked: an update was not refused, but that does not prove access and \(user)'s roles could not be read; create a test deployment to be sure")
            }
        } catch {
            add("write access", .notChecked, "not checked: \(error.description)")
        }
    }

    /// (config key, CI) for each `cmdb_ci` of `[projects.X]` and `[projects.X.environments.Y]`.
    static func configurationItemKeys(_ projects: [ProjectSettings]) -> [(key: String, value: String)] {
        var names: [(key: String, value: String)] = []
        for p in projects.sorted(by: { $0.name < $1.name }) {
            names += p.configurationItems.map { ("projects.\(p.name).cmdb_ci", $0) }
            for (env, o) in p.environmentOverrides.sorted(by: { $0.key < $1.key }) {
                names += (o.configurationItems ?? []).map { ("projects.\(p.name).environments.\(env).cmdb_ci", $0) }
            }
        }
        return names
    }

    /// The user's role names, when this user may read them.
    func roles() async -> Set<String>? {
        guard let username = settings.username, !username.isEmpty else { return nil }
        return (try? await client.roles(ofUser: username)) ?? nil
    }

    func fix(for error: ServiceNowError) -> String {
        switch error {
        case .forbidden: "give \(user) the role sn_change_read (or itil) so it can read change requests and templates"
        case .credentialsRejected, .notAuthenticated: "check the credentials of \(name) and that \(user) is active with web service access"
        case .badRequest: "ask the ServiceNow administrator to activate the Change Management REST API plugin (sn_chg_rest); check \(name).url"
        default: "see the message; run `changegate doctor` again when the instance answers"
        }
    }

    /// The start of an answer, on one line, for the report.
    static func excerpt(_ body: String) -> String {
        let line = body.split(whereSeparator: \.isNewline).joined(separator: " ").trimmingCharacters(in: .whitespaces)
        if line.isEmpty { return "(empty body)" }
        return line.count > 300 ? String(line.prefix(300)) + "…" : line
    }
}
