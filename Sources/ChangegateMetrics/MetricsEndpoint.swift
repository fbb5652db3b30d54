import ChangegateConfig
import Foundation
import Hummingbird
import NIOCore
import Logging
import ServiceLifecycle

/// Serves `GET /metrics` in the Prometheus text exposition format, on a loopback port or a unix socket.
public struct MetricsEndpoint: Service {
    let listen: MetricsListen
    let metrics: DaemonMetrics
    let gauges: QueueGauges?
    let logger: Logger
    let onListening: @Sendable (_ port: Int?) async -> Void

    /// `gauges` nil: only the event metrics (no database figures).
    public init(listen: MetricsListen, metrics: DaemonMetrics, gauges: QueueGauges?, logger: Logger,
                onListening: @escaping @Sendable (_ port: Int?) async -> Void = { _ in }) {
        self.listen = listen
        self.metrics = metrics
        self.gauges = gauges
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let router = Router()
        router.get("/metrics") { [metrics, gauges] _, _ -> Response in
            await gauges?.refresh()
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        let address: BindAddress
        switch listen {
        case .tcp(let host, let port):
            address = .hostname(host, port: port)
        case .unix(let path):
            try Self.removeStaleSocket(path)
            address = .unixDomainSocket(path: path)
        }
        // Hummingbird's own logging stays quiet (it reports its cancellation below as errors); bind failures are
        // thrown, and the daemon logs where the endpoint listens.
        var httpLogger = logger
        httpLogger.logLevel = .critical
        let listen = listen
        let logger = logger
        let onListening = onListening
        let app = Application(
            router: router,
            configuration: .init(address: address, serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port
                logger.info("Metrics served at \(listen)/metrics", metadata: ["metrics.listen": "\(listen)"])
                await onListening(port)
            },
            logger: httpLogger)
        // A scrape needs no draining: on shutdown the server is cancelled rather than quiesced (its graceful
        // shutdown could wait on a client's open connection and hold up the daemon's stop).
        try await cancelWhenGracefulShutdown {
            try await app.run()
        }
    }

    /// A socket left by a previous run (killed before it could unlink) would make bind fail with EADDRINUSE.
    static func removeStaleSocket(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw MetricsEndpointError.notASocket(path: path)
        }
        unlink(path)
    }
}

public enum MetricsEndpointError: Error, CustomStringConvertible {
    case notASocket(path: String)

    public var description: String {
        switch self {
        case .notASocket(let path):
            "metrics_listen: \(path) exists and is not a socket; remove it or choose another path for metrics_listen"
        }
    }
}
