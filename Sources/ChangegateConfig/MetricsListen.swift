/// Where the Prometheus endpoint listens (`[daemon] metrics_listen`). Off unless set.
public enum MetricsListen: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }

    /// Loopback addresses only reach processes on this host; anything else exposes the metrics to the network.
    public var isLoopback: Bool {
        switch self {
        case .unix: true
        case .tcp(let host, _): host == "localhost" || host == "::1" || host.hasPrefix("127.")
        }
    }

    /// Parses `127.0.0.1:9464`, `[::1]:9464`, `localhost:9464` or `unix:/run/changegate/metrics.sock`.
    public static func parse(_ text: String) -> MetricsListen? {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            return path.hasPrefix("/") ? .unix(path: path) : nil
        }
        var host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, let port = Int(portText), (1...65535).contains(port) else { return nil }
        host = host.drop { $0 == " " }
        return .tcp(host: String(host), port: port)
    }

    static func read(_ r: inout TableReader) throws(ConfigError) -> MetricsListen? {
        let isPublic = try r.bool("metrics_listen_public") ?? false
        guard let text = try r.string("metrics_listen", example: "127.0.0.1:9464") else { return nil }
        guard let listen = parse(text) else {
            throw r.error("metrics_listen", "must be host:port or unix:/absolute/path",
                          fix: "metrics_listen = \"127.0.0.1:9464\" (or \"unix:/run/changegate/metrics.sock\")")
        }
        guard listen.isLoopback || isPublic else {
            throw r.error("metrics_listen", "is not a loopback address, so anyone on the network could read the metrics",
                          fix: "listen on 127.0.0.1 or a unix socket behind your scraper's proxy, or set metrics_listen_public = true")
        }
        return listen
    }
}
