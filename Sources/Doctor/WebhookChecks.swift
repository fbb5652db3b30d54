import ChangegateConfig
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension Diagnostics {
    /// Push notifications, when `webhook_listen` is set: the secret as the daemon reads it, and the address
    /// (taken by a listener, presumably the running daemon, or free for it to bind).
    public static func checkWebhook(_ config: ChangegateConfiguration,
                                    environment: [String: String] = ProcessInfo.processInfo.environment) -> [DiagnosticCheck] {
        guard let webhook = config.daemon.webhook else { return [] }
        var checks: [DiagnosticCheck] = []
        do {
            _ = try webhook.readSecret(configFile: config.path, environment: environment)
            checks.append(DiagnosticCheck("webhook secret", .ok, "readable, long enough"))
        } catch {
            checks.append(DiagnosticCheck("webhook secret", .fail, error.problem, fix: error.fix))
        }
        let probeHost = webhook.host == "0.0.0.0" || webhook.host == "::" ? "localhost" : webhook.host
        if case .success? = NetworkProbe.probe(host: probeHost, port: webhook.port, timeout: .seconds(2)).tcp {
            checks.append(DiagnosticCheck("webhook listen", .ok, "\(webhook.listen) takes connections (the running daemon, if it is up)"))
        } else if let why = bindProblem(host: webhook.host, port: webhook.port) {
            checks.append(DiagnosticCheck("webhook listen", .fail, "cannot bind \(webhook.listen): \(why)",
                                          fix: "choose a free port above 1023 on an address of this host for webhook_listen"))
        } else {
            checks.append(DiagnosticCheck("webhook listen", .ok, "\(webhook.listen) is free to bind (the daemon is not listening yet)"))
        }
        return checks
    }

    /// Binds and closes at once; nil when the bind worked.
    static func bindProblem(host: String, port: Int) -> String? {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let ai = list else { return "\(host) is not an address of this host" }
        defer { freeaddrinfo(list) }
        let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), ai.pointee.ai_protocol)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        return bind(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 ? nil : String(cString: strerror(errno))
    }
}
