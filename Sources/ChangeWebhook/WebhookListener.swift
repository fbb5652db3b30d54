import CoreMetrics
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Serves `POST /changegate/v1/change-updated`: ServiceNow's signed notice that a change was updated.
/// An accepted notice (202) only asks for the change to be read again; the body is never taken as its state.
public struct WebhookListener: Service {
    public static let path = "/changegate/v1/change-updated"

    /// A certificate chain and its key, both PEM files; without them the listener speaks plain HTTP behind a proxy.
    public struct TLSFiles: Sendable, Equatable {
        public var certificate: String
        public var key: String
        public init(certificate: String, key: String) {
            self.certificate = certificate
            self.key = key
        }
    }

    let host: String
    let port: Int
    let tls: TLSFiles?
    let verifier: WebhookVerifier
    let logger: Logger
    let metricsFactory: any MetricsFactory
    let onListening: @Sendable (_ port: Int?) async -> Void
    let onNotification: @Sendable (ChangeNotification) -> Void

    public init(host: String, port: Int, tls: TLSFiles? = nil, verifier: WebhookVerifier, logger: Logger,
                metricsFactory: (any MetricsFactory)? = nil,
                onListening: @escaping @Sendable (_ port: Int?) async -> Void = { _ in },
                onNotification: @escaping @Sendable (ChangeNotification) -> Void) {
        self.host = host
        self.port = port
        self.tls = tls
        self.verifier = verifier
        self.logger = logger
        self.metricsFactory = metricsFactory ?? MetricsSystem.factory
        self.onListening = onListening
        self.onNotification = onNotification
    }

    public func run() async throws {
        let router = Router()
        let handler = Handler(verifier: verifier, log: RejectionLog(logger: logger), factory: metricsFactory, onNotification: onNotification)
        router.post(RouterPath(Self.path)) { request, _ in await handler.respond(request) }
        // Certificates are read here, at start, so a bad file stops the daemon with the path in the message.
        let server: HTTPServerBuilder = try tls.map { files in try .tls(.http1(), tlsConfiguration: Self.tlsConfiguration(files)) } ?? .http1()
        var httpLogger = logger
        httpLogger.logLevel = .critical  // Hummingbird reports its own cancellation as errors
        let (host, port, scheme, logger, onListening) = (host, port, tls == nil ? "http" : "https", logger, onListening)
        let app = Application(
            router: router, server: server,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port
                logger.info("Push notifications accepted at \(scheme)://\(host):\(bound ?? port)\(Self.path)",
                            metadata: ["webhook.listen": "\(host):\(bound ?? port)"])
                await onListening(bound)
            },
            logger: httpLogger)
        // A lost notice costs nothing (the poll is the safety net), so a stop does not wait for a sender's
        // open connection: the server is cancelled on graceful shutdown, as the metrics endpoint is.
        try await cancelWhenGracefulShutdown {
            try await app.run()
        }
    }

    static func tlsConfiguration(_ files: TLSFiles) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificate)
        } catch {
            throw WebhookListenerError.certificate(path: files.certificate, "\(error)")
        }
        do {
            key = try NIOSSLPrivateKey(file: files.key, format: .pem)
        } catch {
            throw WebhookListenerError.key(path: files.key, "\(error)")
        }
        guard !chain.isEmpty else { throw WebhookListenerError.certificate(path: files.certificate, "no certificate in the file") }
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }
}

public enum WebhookListenerError: Error, CustomStringConvertible {
    case certificate(path: String, String)
    case key(path: String, String)

    public var description: String {
        switch self {
        case .certificate(let path, let why):
            "webhook_tls_certificate: cannot use \(path) (\(why)); give a PEM certificate chain readable by the changegate user"
        case .key(let path, let why):
            "webhook_tls_key: cannot use \(path) (\(why)); give the certificate's PEM private key, readable by the changegate user"
        }
    }
}

/// One request: verified, answered, counted; an accepted one is handed on.
struct Handler: Sendable {
    let verifier: WebhookVerifier
    let log: RejectionLog
    let factory: any MetricsFactory
    let onNotification: @Sendable (ChangeNotification) -> Void

    func respond(_ request: Request) async -> Response {
        var request = request
        let result: Result<ChangeNotification, WebhookRejection>
        if let length = request.headers[.contentLength].flatMap(Int.init), length > WebhookVerifier.maxBodyBytes {
            result = .failure(.tooLarge(limit: WebhookVerifier.maxBodyBytes))
        } else {
            do {
                let body = try await request.collectBody(upTo: WebhookVerifier.maxBodyBytes)
                let headers = request.headers
                result = Result { () throws(WebhookRejection) -> ChangeNotification in
                    try verifier.verify(body: Array(body.readableBytesView)) { name in HTTPField.Name(name).flatMap { headers[$0] } }
                }
            } catch {
                // collectBody throws only when the body is over the limit (or the connection failed mid-body).
                result = .failure(.tooLarge(limit: WebhookVerifier.maxBodyBytes))
            }
        }
        switch result {
        case .success(let notification):
            count("accepted")
            onNotification(notification)
            return Self.reply(.accepted, #"{"accepted":true}"#)
        case .failure(let rejection):
            count(rejection.reason)
            log.note(rejection)
            return Self.reply(HTTPResponse.Status(code: rejection.httpStatus),
                              #"{"error":"\#(rejection.reason)","detail":"\#(rejection.description.replacingOccurrences(of: "\"", with: "'"))"}"#)
        }
    }

    func count(_ result: String) {
        Counter(label: "changegate_webhook_requests_total", dimensions: [("result", result)], factory: factory).increment()
    }

    static func reply(_ status: HTTPResponse.Status, _ json: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json + "\n")))
    }
}

/// Rejections go to the log at most once a minute per reason, with how many were not logged since:
/// a sender stuck on a wrong secret must not flood the journal. Bodies are never logged.
final class RejectionLog: Sendable {
    let logger: Logger
    private let last = Mutex<[String: (at: ContinuousClock.Instant, suppressed: Int)]>([:])

    init(logger: Logger) { self.logger = logger }

    func note(_ rejection: WebhookRejection) {
        let now = ContinuousClock.now
        let suppressed = last.withLock { state -> Int? in
            if let previous = state[rejection.reason], now - previous.at < .seconds(60) {
                state[rejection.reason]?.suppressed += 1
                return nil
            }
            defer { state[rejection.reason] = (now, 0) }
            return state[rejection.reason]?.suppressed ?? 0
        }
        guard let suppressed else { return }
        let more = suppressed > 0 ? " (\(suppressed) more of these in the last minute were not logged)" : ""
        logger.warning("Push notification refused: \(rejection)\(more)", metadata: ["webhook.rejected": "\(rejection.reason)"])
    }
}
