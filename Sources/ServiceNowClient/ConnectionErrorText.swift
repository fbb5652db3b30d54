import AsyncHTTPClient
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// Network failures in operator words ("connection refused by 127.0.0.1:8090") instead of the libraries'
/// descriptions ("connection reset (error set): Connection refused (errno: 111)").
enum ConnectionErrorText {
    /// `target`: `host:port` of the instance, named in every sentence.
    static func describe(_ error: any Error, target: String) -> String {
        if let e = error as? NIOConnectionError {
            if let dns = e.dnsAError ?? e.dnsAAAAError {
                return "cannot resolve the host name \(e.host) (\(dns))"
            }
            if let first = e.connectionErrors.first {
                return describe(first.error, target: "\(e.host):\(e.port)")
            }
            return "cannot connect to \(e.host):\(e.port)"
        }
        if let io = error as? IOError {
            return describe(errno: io.errnoCode, target: target)
        }
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout: return "connecting to \(target) timed out"
            case .remoteConnectionClosed: return "\(target) closed the connection before answering"
            case .tlsHandshakeTimeout: return "the TLS handshake with \(target) timed out"
            default: break
            }
        }
        if let e = error as? ChannelError, case .connectTimeout = e {
            return "connecting to \(target) timed out"
        }
        return "\(error) (\(target))"
    }

    static func describe(errno code: Int32, target: String) -> String {
        switch code {
        case ECONNREFUSED: "connection refused by \(target)"
        case ECONNRESET: "the connection to \(target) was reset"
        case ETIMEDOUT: "connecting to \(target) timed out"
        case ENETUNREACH: "the network of \(target) is unreachable"
        case EHOSTUNREACH: "no route to \(target)"
        case EADDRNOTAVAIL: "cannot connect to \(target): no usable local address"
        case EPIPE: "the connection to \(target) broke while sending"
        default: "\(String(cString: strerror(code))) (\(target))"
        }
    }
}
