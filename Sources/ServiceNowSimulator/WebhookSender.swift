import Crypto
import Foundation
import NIOCore
import NIOPosix

/// The instance's side of push notifications, as the business rule in docs/push-notifications.md does it: after
/// a write changes a change's `state` or `approval`, a signed `{"sys_id", "number"}` is posted to the registered
/// URL, asynchronously (like `executeAsync()`: the write's answer never waits for it). Plain HTTP only: point it
/// at changegate's listener or at the HTTP side of its proxy.
actor WebhookSender {
    struct Target: Sendable {
        var url: String
        var host: String
        var port: Int
        var path: String
        var secret: String
    }

    struct Delivery: Sendable {
        var sysID: String
        var number: String
        var target: Target
    }

    private(set) var target: Target?
    /// state|approval per change sys_id, as last seen after a write; a change not in it is new (no notice).
    private var seen: [String: String] = [:]
    private var seenRevision = -1
    private var queued = 0, accepted = 0, failed = 0
    private var lastError = ""
    private var log: [JSON] = []
    private let deliveries: AsyncStream<Delivery>
    private let enqueue: AsyncStream<Delivery>.Continuation

    init() { (deliveries, enqueue) = AsyncStream.makeStream() }

    var isActive: Bool { target != nil }

    func register(_ body: JSONObject, store: SimulatorStore) async throws(ControlError) {
        guard let url = body["url"]?.stringValue, let secret = body["secret"]?.stringValue, !secret.isEmpty else {
            throw ControlError(.badRequest, "url and secret are required")
        }
        guard let parsed = URLComponents(string: url), parsed.scheme == "http", let host = parsed.host, !host.isEmpty else {
            throw ControlError(.badRequest, "url must be http://HOST:PORT/PATH (the simulator sends plain HTTP only)")
        }
        target = Target(url: url, host: host, port: parsed.port ?? 80, path: parsed.percentEncodedPath.isEmpty ? "/" : parsed.percentEncodedPath,
                        secret: secret)
        seen = [:]
        seenRevision = -1
        await afterWrite(store)  // the baseline: what is already there is not news
    }

    func clear() {
        target = nil
        seen = [:]
        seenRevision = -1
    }

    /// Compares every change's state and approval with the last write's, and queues a notice for each that moved.
    func afterWrite(_ store: SimulatorStore) async {
        guard let target else { return }
        let (revision, rows) = await store.isolated { s in
            (s.revision, s.changes.compactMap { row in row.map { ($0.value("sys_id", in: Schemas.changeRequest), $0.value("number", in: Schemas.changeRequest),
                                                                   $0.value("state", in: Schemas.changeRequest) + "|" + $0.value("approval", in: Schemas.changeRequest)) } })
        }
        // Two writes may report out of order; the older copy must not undo the newer.
        guard revision > seenRevision else { return }
        let baseline = seenRevision < 0
        seenRevision = revision
        var now: [String: String] = [:]
        for (sysID, number, key) in rows {
            now[sysID] = key
            if !baseline, let before = seen[sysID], before != key {
                queued += 1
                enqueue.yield(Delivery(sysID: sysID, number: number, target: target))
            }
        }
        seen = now
    }

    /// Delivers queued notices until cancelled, each in its own child task (a slow receiver delays no other).
    func run() async {
        await withDiscardingTaskGroup { group in
            for await delivery in deliveries {
                group.addTask { await self.deliver(delivery) }
            }
        }
    }

    private func deliver(_ d: Delivery) async {
        let body = Array(#"{"sys_id":"\#(d.sysID)","number":"\#(d.number)"}"#.utf8)
        // Milliseconds, as the business rule sends them: two notices in one second must differ.
        let timestamp = String(format: "%.3f", Date().timeIntervalSince1970)
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(timestamp).".utf8) + body, using: SymmetricKey(data: Array(d.target.secret.utf8)))
        let signature = "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
        let result: Result<Int, any Error>
        do {
            result = .success(try await Self.post(d.target, headers: [("X-Changegate-Timestamp", timestamp), ("X-Changegate-Signature", signature)], body: body))
        } catch {
            result = .failure(error)
        }
        record(d, result)
    }

    private func record(_ d: Delivery, _ result: Result<Int, any Error>) {
        var entry = JSONObject([("at", .string(RequestRecorder.iso(Date()))), ("number", .string(d.number)), ("sys_id", .string(d.sysID))])
        switch result {
        case .success(let status) where (200..<300).contains(status):
            accepted += 1
            entry["status"] = .int(status)
        case .success(let status):
            failed += 1
            lastError = "\(d.target.url) answered \(status)"
            entry["status"] = .int(status)
        case .failure(let error):
            failed += 1
            lastError = "\(d.target.url): \(error)"
            entry["error"] = .string("\(error)")
        }
        log.append(.object(entry))
        if log.count > 200 { log.removeFirst(log.count - 200) }
    }

    var json: JSON {
        .obj(["url": target.map { .string($0.url) } ?? .null, "queued": .int(queued), "accepted": .int(accepted), "failed": .int(failed),
              "last_error": .string(lastError), "log": .array(log)])
    }

    /// One HTTP/1.1 POST on a fresh connection, `Connection: close`; returns the status code. NIO is already
    /// here for the server, so this needs no HTTP client library (and none of its TLS) in the simulator.
    static func post(_ target: Target, headers: [(String, String)], body: [UInt8]) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.seconds(2))
                    .connect(host: target.host, port: target.port) { channel in
                        channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                    }
                return try await channel.executeThenClose { inbound, outbound in
                    var head = "POST \(target.path) HTTP/1.1\r\nHost: \(target.host):\(target.port)\r\nContent-Type: application/json\r\n"
                        + "Content-Length: \(body.count)\r\nConnection: close\r\n"
                    for (name, value) in headers { head += "\(name): \(value)\r\n" }
                    try await outbound.write(ByteBuffer(bytes: Array((head + "\r\n").utf8) + body))
                    var answer: [UInt8] = []
                    for try await chunk in inbound {
                        answer += chunk.readableBytesView
                        if answer.contains(0x0a) || answer.count > 4096 { break }
                    }
                    // "HTTP/1.1 202 Accepted": the second word.
                    let line = String(decoding: answer.prefix { $0 != 0x0d && $0 != 0x0a }, as: UTF8.self).split(separator: " ")
                    guard line.count >= 2, line[0].hasPrefix("HTTP/"), let status = Int(line[1]) else { throw WebhookSendError("no HTTP status line in the answer") }
                    return status
                }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(5))
                throw WebhookSendError("no answer within 5 s")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}

struct WebhookSendError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
