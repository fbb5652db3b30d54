import AsyncHTTPClient
import ChangegateConfig
import Foundation
import Logging
import ServiceNowClient

/// One line of `changegate doctor`: what was checked, how it went, and what to do about a failure.
public struct DiagnosticCheck: Sendable, Equatable {
    public enum Status: String, Sendable {
        case ok
        case fail
        /// Could not be checked (without side effects, or because an earlier check failed); not a failure.
        case notChecked = "not_checked"
    }

    public var name: String
    public var status: Status
    public var detail: String
    public var fix: String?

    public init(_ name: String, _ status: Status, _ detail: String, fix: String? = nil) {
        self.name = name
        self.status = status
        self.detail = detail
        self.fix = fix
    }
}

/// The checks of one ServiceNow connection, in the order an operator would debug it: name, network, TLS,
/// credentials, roles, templates, clock. A check that needs an earlier one to pass is reported as not checked.
public enum Diagnostics {
    /// Larger differences make change windows start or end at the wrong moment.
    public static let maxClockSkew: Double = 30

    public static func checkConnection(_ settings: ConnectionSettings, config: ChangegateConfiguration,
                                       environment: [String: String] = ProcessInfo.processInfo.environment) async -> [DiagnosticCheck] {
        let name = "servicenow.\(settings.name)"
        var checks: [DiagnosticCheck] = []
        func skipRest(_ what: [String], because: String) {
            for w in what { checks.append(DiagnosticCheck("\(name) \(w)", .notChecked, "not checked: \(because)")) }
        }
        let later = ["TLS", "OAuth token", "read changes", "templates", "write access", "clock"]

        guard let url = URL(string: settings.url), let host = url.host, let scheme = url.scheme?.lowercased() else {
            checks.append(DiagnosticCheck("\(name) url", .fail, "\(settings.url) is not a URL", fix: "set \(name).url to the instance root, e.g. https://acme.service-now.com"))
            return checks
        }
        let port = url.port ?? (scheme == "https" ? 443 : 80)

        // Network: DNS and TCP, to the proxy when one is used for this host.
        let proxy = NetworkProbe.proxy(forHost: host, environment: environment)
        let target = proxy ?? (host, port)
        let via = proxy.map { " (proxy \($0.host):\($0.port) from HTTPS_PROXY)" } ?? ""
        let connectTimeout = min(settings.timeout, .seconds(10))
        let net = NetworkProbe.probe(host: target.host, port: target.port, timeout: connectTimeout)
        switch net.dns {
        case .success(let addresses):
            checks.append(DiagnosticCheck("\(name) DNS", .ok, "\(target.host)\(via) resolves to \(addresses.joined(separator: ", "))"))
        case .failure(let e):
            checks.append(DiagnosticCheck("\(name) DNS", .fail, "\(target.host)\(via) does not resolve: \(e)",
                                          fix: "check the host name in \(name).url (or HTTPS_PROXY) and this host's resolver (/etc/resolv.conf, resolvectl status)"))
            skipRest(["TCP"] + later, because: "the name does not resolve")
            return checks
        }
        switch net.tcp {
        case .success(let address)?:
            checks.append(DiagnosticCheck("\(name) TCP", .ok, "connected to \(address) port \(target.port)\(via)"))
        case .failure(let e)?:
            checks.append(DiagnosticCheck("\(name) TCP", .fail, "cannot connect to \(target.host) port \(target.port)\(via): \(e)",
                                          fix: "check the port in \(name).url, that the instance is up, and firewalls or the proxy between this host and it"))
            skipRest(later, because: "no TCP connection")
            return checks
        case nil:
            break
        }

        // Everything over HTTP uses the connection's own client: its CA bundle and proxy rule, as the daemon does.
        let configuration: ConnectionConfiguration
        do {
            configuration = try Connections.configuration(settings, configFile: config.path, environment: environment)
        } catch {
            checks.append(DiagnosticCheck("\(name) secrets", .fail, "\(error)", fix: "make the secret files named in \(name) readable by this user (see `changegate check-config`)"))
            skipRest(later, because: "the secrets could not be read")
            return checks
        }
        let http: HTTPClient
        do {
            http = try ServiceNowClient.makeHTTPClient(for: [configuration], environment: environment)
        } catch {
            checks.append(DiagnosticCheck("\(name) TLS", .fail, "\(error)", fix: "fix \(name).ca_bundle (a PEM file of CA certificates) or HTTPS_PROXY"))
            skipRest(Array(later.dropFirst()), because: "no HTTP client")
            return checks
        }
        var probe = ServiceNowProbe(name: name, settings: settings, configuration: configuration, http: http)
        checks += await probe.run(scheme: scheme, projects: config.projects.values.filter { $0.connection == settings.name })
        try? await http.shutdown()
        return checks
    }
}
