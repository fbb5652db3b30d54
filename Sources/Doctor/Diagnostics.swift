import AsyncHTTPClient
import ChangegateConfig
import Daemon
import Foundation
import Logging
import ServiceNowClient

/// The checks of `changegate doctor`. For each ServiceNow connection, in the order an operator would debug it:
/// name, network, TLS, credentials, roles, templates, clock. A check that needs an earlier one to pass is reported
/// as not checked.
public enum Diagnostics {
    /// Larger differences make change windows start or end at the wrong moment.
    static let maxClockSkew: Double = 30

    /// Loads the config as the daemon would; the check says what is wrong with it and how to fix it.
    public static func checkConfig(path: String) -> (ChangegateConfiguration?, DiagnosticCheck) {
        do {
            let loaded = try ConfigLoader.load(path: path)
            return (loaded, DiagnosticCheck("config", .ok, "\(path): \(loaded.projects.count) project(s), \(loaded.environments.count) environment(s), \(loaded.connections.count) connection(s)"))
        } catch {
            // ConfigError's text ends with its own "fix:" line; keep the two apart.
            let lines = "\(error)".split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            let fix = lines.first { $0.hasPrefix("fix:") }.map { String($0.dropFirst(4)).trimmingCharacters(in: .whitespaces) }
            return (nil, DiagnosticCheck("config", .fail, lines.filter { !$0.hasPrefix("fix:") }.joined(separator: " "),
                                         fix: fix ?? "fix the key named above; `changegate check-config` checks the file again"))
        }
    }

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

        // Network: DNS and TCP, to the proxy when the client would use one for this host. A malformed HTTPS_PROXY
        // is reported by the TLS check, where the client refuses it; the network is probed directly meanwhile.
        let proxy = (try? ServiceNowClient.proxy(forHost: host, environment: environment)) ?? nil
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

        // Everything over HTTP goes through the connection's own client, built as the daemon builds it: its CA
        // bundle, proxy rule, OAuth grant and error handling. Retries are cut short: doctor reports, it does not wait.
        var configuration: ConnectionConfiguration
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
        configuration.retry = RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(200), maxDelay: .seconds(1))
        configuration.requestTimeout = min(configuration.requestTimeout, .seconds(20))
        var logger = Logger(label: "changegate.doctor")
        logger.logLevel = .critical
        let client = ServiceNowClient(configuration: configuration, httpClient: http, logger: logger)
        var probe = ServiceNowProbe(name: name, settings: settings, client: client)
        checks += await probe.run(scheme: scheme, host: host, projects: config.projects.values.filter { $0.connection == settings.name })
        try? await http.shutdown()
        return checks
    }
}
