import AsyncHTTPClient
@testable import ChangeWebhook
import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Testing
import TestSupport

/// The listener with its own certificate: a client that trusts it is served, one that does not is refused.
@Suite(.ownThreads) struct TLSTests {
    /// A self-signed certificate for 127.0.0.1 in a fresh folder, removed by the caller.
    static func certificate(in dir: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
                       "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1", "-keyout", "\(dir)/key.pem", "-out", "\(dir)/cert.pem"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw HTTPTestError("openssl could not make a test certificate") }
    }

    @Test func servesHTTPSWithTheConfiguredCertificate() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cg-webhook-tls-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.certificate(in: dir)
        let received = Received()
        let (ports, portContinuation) = AsyncStream<Int?>.makeStream()
        let listener = WebhookListener(host: "127.0.0.1", port: 0, tls: .init(certificate: "\(dir)/cert.pem", key: "\(dir)/key.pem"),
                                       verifier: WebhookVerifier(secret: secret), logger: Logger(label: "test"),
                                       onListening: { portContinuation.yield($0) }) { received.append($0) }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile("\(dir)/cert.pem"))
        let trusting = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        let group = ServiceGroup(configuration: .init(services: [listener], logger: Logger(label: "test")))
        var failure: (any Error)?
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            do {
                guard let port = await iterator.next() ?? nil else { throw HTTPTestError("the listener reported no port") }
                let url = "https://127.0.0.1:\(port)\(WebhookListener.path)"
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                let headers = signed(notice.body, at: Int(Date().timeIntervalSince1970))
                for (k, v) in headers { request.headers.add(name: k, value: v) }
                request.body = .bytes(ByteBuffer(bytes: notice.body))
                let response = try await trusting.execute(request, timeout: .seconds(30))
                _ = try await response.body.collect(upTo: 1 << 16)
                #expect(response.status.code == 202)
                #expect(received.all == [notice])
                // The shared client trusts only the system's roots: the self-signed certificate is refused (AsyncHTTPClient
                // retries a failed handshake until the deadline, hence the short one).
                await #expect(throws: (any Error).self) {
                    _ = try await post(url, notice.body, signed(notice.body, at: Int(Date().timeIntervalSince1970) + 1), timeout: 2)
                }
                #expect(received.all.count == 1)
            } catch {
                failure = error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        try await trusting.shutdown()
        if let failure { throw failure }
    }

    @Test func aMissingCertificateFailsTheStartNamingTheKey() async throws {
        let listener = WebhookListener(host: "127.0.0.1", port: 0, tls: .init(certificate: "/nonexistent/cert.pem", key: "/nonexistent/key.pem"),
                                       verifier: WebhookVerifier(secret: secret), logger: Logger(label: "test")) { _ in }
        await #expect { try await listener.run() } throws: { error in
            "\(error)".contains("webhook_tls_certificate") && "\(error)".contains("/nonexistent/cert.pem")
        }
    }
}
