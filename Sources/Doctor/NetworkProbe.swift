import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Name resolution and TCP reachability, with the C library: what `doctor` reports before any HTTP is tried.
enum NetworkProbe {
    struct Result: Sendable {
        /// The resolved addresses, or why the name did not resolve.
        var dns: Swift.Result<[String], ProbeError>
        /// The address that accepted the connection, or why none did (nil when DNS failed).
        var tcp: Swift.Result<String, ProbeError>?
    }

    struct ProbeError: Error, Sendable, CustomStringConvertible {
        var description: String
    }

    /// Resolves `host` and connects to `port` on each address in turn until one accepts, within `timeout` each.
    static func probe(host: String, port: Int, timeout: Duration) -> Result {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            let why = rc == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(rc))
            return Result(dns: .failure(ProbeError(description: why)), tcp: nil)
        }
        defer { freeaddrinfo(list) }
        var addresses: [String] = []
        var errors: [String] = []
        var connected: String?
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let ai = node {
            let text = numericHost(ai.pointee.ai_addr, ai.pointee.ai_addrlen)
            if !addresses.contains(text) { addresses.append(text) }
            if connected == nil {
                switch connect(ai.pointee, timeout: timeout) {
                case nil: connected = text
                case let why?: errors.append("\(text): \(why)")
                }
            }
            node = ai.pointee.ai_next
        }
        let tcp: Swift.Result<String, ProbeError> = connected.map { .success($0) }
            ?? .failure(ProbeError(description: errors.joined(separator: "; ")))
        return Result(dns: .success(addresses), tcp: tcp)
    }

    static func numericHost(_ addr: UnsafeMutablePointer<sockaddr>?, _ length: socklen_t) -> String {
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard let addr, getnameinfo(addr, length, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A non-blocking connect bounded by `timeout`; nil on success, else why it failed.
    static func connect(_ ai: addrinfo, timeout: Duration) -> String? {
        let fd = socket(ai.ai_family, ai.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), ai.ai_protocol)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        if Glibc.connect(fd, ai.ai_addr, ai.ai_addrlen) == 0 { return nil }
        guard errno == EINPROGRESS else { return String(cString: strerror(errno)) }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ms = Int32(min(Double(Int32.max), Double(timeout.components.seconds) * 1000 + Double(timeout.components.attoseconds) / 1e15))
        let n = poll(&pfd, 1, ms)
        if n == 0 { return "no answer within \(timeout.components.seconds) s (filtered by a firewall?)" }
        if n < 0 { return String(cString: strerror(errno)) }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return String(cString: strerror(errno)) }
        return error == 0 ? nil : String(cString: strerror(error))
    }
}
