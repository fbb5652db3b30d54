import AsyncHTTPClient
import ChangegateConfig
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceNowClient

/// The HTTP checks of one connection. Nothing here changes anything on the instance: the write check sends
/// an update for a change that cannot exist, and reads the user's roles.
struct ServiceNowProbe {
    let name: String
    let settings: ConnectionSettings
    let configuration: ConnectionConfiguration
    let http: HTTPClient
    var authorization: String?
    var checks: [DiagnosticCheck] = []

    /// A sys_id no record has: updating it can only be refused (403) or not found (404).
    static let absentSysID = String(repeating: "0", count: 32)
    static let writeRoles: Set<String> = ["itil", "sn_change_write", "change_manager", "admin"]

    init(name: String, settings: ConnectionSettings, configuration: ConnectionConfiguration, http: HTTPClient) {
        self.name = name
        self.settings = settings
        self.configuration = configuration
        self.http = http
    }

    var root: String {
        var r = settings.url.trimmingCharacters(in: .whitespaces)
        while r.hasSuffix("/") { r.removeLast() }
        return r
    }

    var user: String { settings.username ?? "the OAuth application user" }

    mutating func add(_ what: String, _ status: DiagnosticCheck.Status, _ detail: String, fix: String? = nil) {
        checks.append(DiagnosticCheck("\(name) \(what)", status, detail, fix: fix))
    }

    mutating func run(scheme: String, projects: [ProjectSettings]) async -> [DiagnosticCheck] {
        if scheme == "https" {
            do {
                let (status, _) = try await send(.GET, "/", body: nil, contentType: nil)
                add("TLS", .ok, "TLS handshake with \(URL(string: root)?.host ?? root) succeeded, certificate verified (HTTP \(status))")
            } catch {
                add("TLS", .fail, "TLS or HTTP failed: \(error)",
                    fix: "if the instance uses a private CA, set \(name).ca_bundle; check this host's clock and that the URL's host matches the certificate")
                for w in ["OAuth token", "read changes", "templates", "write access", "clock"] { add(w, .notChecked, "not checked: no TLS connection") }
                return checks
            }
        } else {
            add("TLS", .notChecked, "not checked: \(name).url is plain http:// (only for test instances; real instances need https)")
        }
        guard await token() else {
            for w in ["read changes", "templates", "write access", "clock"] { add(w, .notChecked, "not checked: no access token") }
            return checks
        }
        var shortRetry = configuration
        shortRetry.retry = RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(200), maxDelay: .seconds(1))
        shortRetry.requestTimeout = min(configuration.requestTimeout, .seconds(20))
        var logger = Logger(label: "changegate.doctor")
        logger.logLevel = .critical
        let client = ServiceNowClient(configuration: shortRetry, httpClient: http, logger: logger)

        let before = Date()
        var serverDate: Date?
        var canRead = false
        do throws(ServiceNowError) {
            serverDate = try await client.serverDate()
            canRead = true
            add("read changes", .ok, "change requests can be read as \(user)")
        } catch {
            add("read changes", .fail, error.description, fix: fix(for: error, reading: true))
        }
        let after = Date()

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
                add("template \"\(template)\"", .fail, error.description, fix: fix(for: error, reading: true))
            }
        }

        await writeAccess(client)

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

    /// The token check, with the instance's own answer when it refuses. Sets `authorization` for later calls.
    mutating func token() async -> Bool {
        let form: [(String, String)]
        switch configuration.credentials {
        case .basic(let user, let password):
            authorization = "Basic " + Data("\(user):\(password.reveal())".utf8).base64EncodedString()
            add("OAuth token", .notChecked, "not checked: \(name).auth is basic (no OAuth token is used)")
            return true
        case .password(let id, let secret, let user, let password):
            form = [("grant_type", "password"), ("client_id", id), ("client_secret", secret.reveal()), ("username", user), ("password", password.reveal())]
        case .refreshToken(let id, let secret, let refresh):
            form = [("grant_type", "refresh_token"), ("client_id", id), ("client_secret", secret.reveal()), ("refresh_token", refresh.reveal())]
        case .clientCredentials(let id, let secret):
            form = [("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret.reveal())]
        }
        let grant = form[0].1
        let body = form.map { "\(Self.formEscape($0.0))=\(Self.formEscape($0.1))" }.joined(separator: "&")
        do {
            let (status, answer) = try await send(.POST, "/oauth_token.do", body: body, contentType: "application/x-www-form-urlencoded")
            let json = (try? JSONSerialization.jsonObject(with: Data(answer.utf8))) as? [String: Any]
            if status == 200, let token = json?["access_token"] as? String, !token.isEmpty {
                authorization = "Bearer \(token)"
                let expires = (json?["expires_in"]).map { " (expires in \($0) s)" } ?? ""
                add("OAuth token", .ok, "\(grant) grant: token issued\(expires)")
                return true
            }
            add("OAuth token", .fail, "\(grant) grant refused: the instance answered HTTP \(status) \(Self.excerpt(answer))",
                fix: "check \(name).client_id, the client secret file, "
                    + (grant == "password" ? "the user name and password file (user active, web service access), " : "")
                    + (grant == "refresh_token" ? "that the refresh token has not expired, " : "")
                    + "and that the OAuth application is active")
        } catch {
            add("OAuth token", .fail, "no answer from /oauth_token.do: \(error)", fix: "check \(name).url points at the instance root")
        }
        return false
    }

    /// 403 on an update of a change that does not exist proves the user may not write. 404 proves nothing
    /// (a real instance looks the record up first), so the user's roles decide, when they can be read.
    mutating func writeAccess(_ client: ServiceNowClient) async {
        do throws(ServiceNowError) {
            _ = try await client.updateChange(sysID: Self.absentSysID, ChangeUpdate(extraFields: ["correlation_display": "changegate doctor"]))
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

    /// The user's role names from `sys_user`, when this user may read them.
    func roles() async -> Set<String>? {
        guard let username = settings.username, !username.isEmpty, !username.contains("^") else { return nil }
        let query = Self.formEscape("user_name=\(username)")
        guard let (status, body) = try? await send(.GET, "/api/now/table/sys_user?sysparm_query=\(query)&sysparm_fields=user_name,roles&sysparm_limit=1",
                                                   body: nil, contentType: nil),
              status == 200,
              let json = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any],
              let first = (json["result"] as? [[String: Any]])?.first,
              let roles = first["roles"] as? String, !roles.isEmpty else { return nil }
        return Set(roles.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }

    func fix(for error: ServiceNowError, reading: Bool) -> String {
        switch error {
        case .forbidden: "give \(user) the role sn_change_read (or itil) so it can read change requests and templates"
        case .credentialsRejected, .notAuthenticated: "check the credentials of \(name) and that \(user) is active with web service access"
        case .badRequest: "ask the ServiceNow administrator to activate the Change Management REST API plugin (sn_chg_rest); check \(name).url"
        default: "see the message; run `changegate doctor` again when the instance answers"
        }
    }

    func send(_ method: HTTPMethod, _ path: String, body: String?, contentType: String?) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: root + path)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let authorization, path != "/oauth_token.do", path != "/" { request.headers.add(name: "Authorization", value: authorization) }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType ?? "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let seconds = Int64(min(configuration.requestTimeout.components.seconds, 20))
        let response = try await http.execute(request, timeout: .seconds(seconds))
        let buffer = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: buffer))
    }

    static func formEscape(_ s: String) -> String {
        // RFC 3986 unreserved characters only (CharacterSet.alphanumerics would let non-ASCII letters through).
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    /// The start of an answer, on one line, for the report.
    static func excerpt(_ body: String) -> String {
        let line = body.split(whereSeparator: \.isNewline).joined(separator: " ").trimmingCharacters(in: .whitespaces)
        if line.isEmpty { return "(empty body)" }
        return line.count > 300 ? String(line.prefix(300)) + "…" : line
    }
}
