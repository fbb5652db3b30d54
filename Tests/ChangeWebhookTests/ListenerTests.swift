import AsyncHTTPClient
@testable import ChangeWebhook
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// A listener on a free loopback port, its notifications collected; stopped by graceful shutdown when `body` ends.
func withListener(_ body: (_ base: String, _ received: Received) async throws -> Void) async throws {
    let received = Received()
    let (ports, portContinuation) = AsyncStream<Int?>.makeStream()
    let listener = WebhookListener(host: "127.0.0.1", port: 0, verifier: WebhookVerifier(secret: secret), logger: Logger(label: "test"),
                                   onListening: { portContinuation.yield($0) }) { n in received.append(n) }
    let group = ServiceGroup(configuration: .init(services: [listener], logger: Logger(label: "test")))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var failure: (any Error)?
        var iterator = ports.makeAsyncIterator()
        if let port = await iterator.next() ?? nil {
            do { try await body("http://127.0.0.1:\(port)", received) } catch { failure = error }
        } else {
            failure = HTTPTestError("the listener reported no port")
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        if let failure { throw failure }
    }
}

/// Notifications handed on by a listener, from its request tasks.
final class Received: Sendable {
    private let list = Mutex<[ChangeNotification]>([])
    func append(_ n: ChangeNotification) { list.withLock { $0.append(n) } }
    var all: [ChangeNotification] { list.withLock { $0 } }
}

struct HTTPTestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// POSTs `body` with `headers`; returns the status and the answer's text.
func post(_ url: String, _ body: [UInt8], _ headers: [String: String], timeout: Int64 = 30) async throws -> (Int, String) {
    var request = HTTPClientRequest(url: url)
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    for (k, v) in headers { request.headers.add(name: k, value: v) }
    request.body = .bytes(ByteBuffer(bytes: body))
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeout))
    let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
    return (Int(response.status.code), text)
}

@Suite struct ListenerTests {
    func now(_ body: [UInt8]) -> [String: String] { signed(body, at: Int(Date().timeIntervalSince1970)) }

    @Test func acceptsASignedNotificationAndHandsItOn() async throws {
        try await withListener { base, received async throws -> Void in
            let (status, _) = try await post(base + WebhookListener.path, notice.body, now(notice.body))
            #expect(status == 202)
            #expect(received.all == [notice])
        }
    }

    @Test func refusesForgedReplayedAndUnsignedRequestsWithoutHandingThemOn() async throws {
        try await withListener { base, received async throws -> Void in
            let url = base + WebhookListener.path
            let forged = signed(notice.body, at: Int(Date().timeIntervalSince1970), key: "a guess at the secret, 32 bytes long")
            let (forgedStatus, forgedText) = try await post(url, notice.body, forged)
            #expect(forgedStatus == 401)
            #expect(forgedText.contains("forged"))
            #expect(!forgedText.contains(secret))
            #expect(try await post(url, notice.body, [:]).0 == 401)
            let stale = signed(notice.body, at: Int(Date().timeIntervalSince1970) - 3600)
            #expect(try await post(url, notice.body, stale).1.contains("stale"))
            #expect(received.all.isEmpty)
            let good = now(notice.body)
            #expect(try await post(url, notice.body, good).0 == 202)
            let (replayStatus, replayText) = try await post(url, notice.body, good)
            #expect(replayStatus == 401)
            #expect(replayText.contains("replayed"))
            #expect(received.all.count == 1)
        }
    }

    @Test func answersBadRequestsWithTheirStatus() async throws {
        try await withListener { base, received async throws -> Void in
            let url = base + WebhookListener.path
            let malformed = Array(#"{"sys_id":"x","number":"CHG0030001"}"#.utf8)
            #expect(try await post(url, malformed, now(malformed)).0 == 400)
            let big = [UInt8](repeating: 0x20, count: 20_000)
            #expect(try await post(url, big, now(big)).0 == 413)
            #expect(try await post(base + "/changegate/v1/other", notice.body, now(notice.body)).0 == 404)
            #expect(try await post(base + "/", notice.body, now(notice.body)).0 == 404)
            #expect(received.all.isEmpty)
        }
    }
}
