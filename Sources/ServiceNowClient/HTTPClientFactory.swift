import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// Why an HTTP client could not be set up from the configuration.
public struct ClientSetupError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

extension ServiceNowClient {
    /// An `HTTPClient` for these connections: TLS verified against the system roots plus every connection's
    /// `caBundlePath` (read and checked now), and the proxy from `HTTPS_PROXY`/`https_proxy` unless `NO_PROXY`/
    /// `no_proxy` exempts the instances' hosts. Shut it down (`shutdown()`) after the last request.
    ///
    /// One HTTPClient has one proxy setting, so the connections must agree: if some hosts need the proxy and others
    /// are exempt, this throws; make one client per connection then (`makeHTTPClient(for: [configuration])`).
    /// CA bundles given for one connection are trusted for all connections sharing the client.
    public static func makeHTTPClient(for configurations: [ConnectionConfiguration], environment: [String: String] = ProcessInfo.processInfo.environment) throws -> HTTPClient {
        let configuration = try httpClientConfiguration(for: configurations, environment: environment)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// The `HTTPClient.Configuration` `makeHTTPClient(for:environment:)` uses (TLS roots, proxy, connect timeout, no redirects).
    public static func httpClientConfiguration(for configurations: [ConnectionConfiguration], environment: [String: String] = ProcessInfo.processInfo.environment) throws -> HTTPClient.Configuration {
        var tls = TLSConfiguration.makeClientConfiguration()
        var extraRoots: [NIOSSLCertificate] = []
        for path in Set(configurations.compactMap(\.caBundlePath)).sorted() {
            do {
                let certificates = try NIOSSLCertificate.fromPEMFile(path)
                guard !certificates.isEmpty else { throw ClientSetupError(description: "no certificate in it") }
                extraRoots += certificates
            } catch {
                throw ClientSetupError(description: "CA bundle \(path) could not be read as PEM certificates (\(error)). Check the ca_bundle path and that the file holds PEM certificates.")
            }
        }
        if !extraRoots.isEmpty { tls.additionalTrustRoots = [.certificates(extraRoots)] }

        let proxies = try Set(configurations.map { try ProxySettings.proxy(forHost: $0.host ?? "", environment: environment) })
        guard proxies.count <= 1 else {
            throw ClientSetupError(description: "the connections \(configurations.map(\.name).joined(separator: ", ")) disagree on the proxy (NO_PROXY exempts some of them): make one HTTP client per connection")
        }
        let shortest = configurations.map(\.requestTimeout).min() ?? .seconds(30)
        let connect = min(shortest, .seconds(10))
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,
            timeout: .init(connect: .nanoseconds(Int64(connect.seconds * 1e9))),
            proxy: proxies.first ?? nil)
        configuration.httpVersion = .automatic
        // Let the client's own retry policy handle refused connections (fast, with backoff) instead of
        // AsyncHTTPClient retrying silently until the request deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }
}

extension ServiceNowClient {
    /// Where a request to `host` connects first: the proxy `HTTPS_PROXY` names, or nil when none is set or
    /// `NO_PROXY` exempts the host. The HTTP client's own rule, for diagnostics that probe the network by hand.
    public static func proxy(forHost host: String, environment: [String: String]) throws(ClientSetupError) -> (host: String, port: Int)? {
        try ProxySettings.proxy(forHost: host, environment: environment).map { ($0.host, $0.port) }
    }
}

/// `HTTPS_PROXY` / `NO_PROXY` as curl reads them.
enum ProxySettings {
    /// The proxy for requests to `host`, or nil when none is set or NO_PROXY exempts the host.
    static func proxy(forHost host: String, environment: [String: String]) throws(ClientSetupError) -> HTTPClient.Configuration.Proxy? {
        let raw = (environment["https_proxy"] ?? environment["HTTPS_PROXY"] ?? "").trimmingCharacters(in: .whitespaces)
        guard !raw.isEmpty else { return nil }
        let noProxy = environment["no_proxy"] ?? environment["NO_PROXY"] ?? ""
        if isExempt(host: host, noProxy: noProxy) { return nil }
        return try parse(raw)
    }

    /// `http://[user:password@]host[:port][/]` or `host:port`; the port defaults to 80 (443 for https).
    static func parse(_ raw: String) throws(ClientSetupError) -> HTTPClient.Configuration.Proxy {
        let text = raw.contains("://") ? raw : "http://\(raw)"
        guard let url = URLComponents(string: text), let host = url.host, !host.isEmpty else {
            throw ClientSetupError(description: "HTTPS_PROXY is not a proxy URL (expected http://host:port)")
        }
        guard url.scheme?.lowercased() == "http" else {
            throw ClientSetupError(description: "HTTPS_PROXY uses scheme '\(url.scheme ?? "")'; only http:// proxies are supported")
        }
        let port = url.port ?? 80
        if let user = url.user?.removingPercentEncoding, !user.isEmpty {
            let password = url.password?.removingPercentEncoding ?? ""
            return .server(host: host, port: port, authorization: .basic(username: user, password: password))
        }
        return .server(host: host, port: port)
    }

    /// NO_PROXY: comma-separated hosts or domain suffixes (`example.com` and `.example.com` both match
    /// `x.example.com`), optional `:port` (ignored), `*` for all. CIDR ranges are not supported.
    static func isExempt(host: String, noProxy: String) -> Bool {
        let host = host.lowercased()
        for entry in noProxy.split(separator: ",") {
            var e = entry.trimmingCharacters(in: .whitespaces).lowercased()
            if e.isEmpty { continue }
            if e == "*" { return true }
            if !e.hasPrefix("["), let colon = e.lastIndex(of: ":"), e[e.index(after: colon)...].allSatisfy(\.isNumber) {
                e = String(e[..<colon])
            }
            if e.hasPrefix("*.") { e.removeFirst() }
            if e.hasPrefix(".") { e.removeFirst() }
            if host == e || host.hasSuffix("." + e) { return true }
        }
        return false
    }
}
