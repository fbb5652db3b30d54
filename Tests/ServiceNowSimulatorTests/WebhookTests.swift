import ChangeWebhook
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing
@testable import ServiceNowSimulator

/// The simulator as the instance with the business rule: a write that moves a change's state or approval posts a
/// signed notice. changegate's own listener receives them, so the signature is checked by the code that must accept it.
@Suite struct WebhookTests {
    static let secret = "simulator-test-secret-of-at-least-32-bytes"

    @Test func stateAndApprovalChangesSendSignedNotifications() async throws {
        try await withReceiver { url, received async throws -> Void in
            try await Sim.with { sim async throws -> Void in
                #expect(try await sim.control("POST", "/webhooks", #"{"url":"\#(url)","secret":"\#(Self.secret)"}"#).status == 200)
                let change = try await sim.createNormal()  // an insert: the rule runs after update only
                let sysID = change.s("sys_id"), number = change.s("number")
                #expect(try await sim.patch(sysID, #"{"work_notes":"no state change"}"#).status == 200)
                #expect(try await sim.patch(sysID, #"{"state":-4}"#).status == 200)  // Change API: New → Assess
                try await eventually("the first notice") { received.all.count == 1 }
                #expect(received.all == [ChangeNotification(sysID: sysID, number: number)])
                try await sim.control("POST", "/changes/\(number)/state", #"{"state":-1}"#)  // the control API's own write
                try await eventually("the second notice") { received.all.count == 2 }
                // The listener has them; the simulator records each answer just after it arrives.
                try await eventually("both answers recorded") { try await sim.control("GET", "/webhooks").json["accepted"] == .int(2) }
                let status = try await sim.control("GET", "/webhooks").json
                #expect(status["accepted"] == .int(2) && status["failed"] == .int(0) && status["queued"] == .int(2))
                #expect(status["log"]?.arrayValue?.first?["status"] == .int(202))
                try await sim.control("DELETE", "/webhooks")
                try await sim.control("POST", "/changes/\(number)/state", #"{"state":0}"#)
                #expect(try await sim.control("GET", "/webhooks").json["queued"] == .int(2), "nothing queued once removed")
            }
            #expect(received.all.count == 2)
        }
    }

    @Test func aFailedDeliveryIsCountedAndTheWriteStillAnswers() async throws {
        try await Sim.with { sim async throws -> Void in
            // Port 1 on loopback: nothing listens, the connection is refused.
            try await sim.control("POST", "/webhooks", #"{"url":"http://127.0.0.1:1/changegate/v1/change-updated","secret":"\#(Self.secret)"}"#)
            let change = try await sim.createNormal()
            #expect(try await sim.patch(change.s("sys_id"), #"{"state":-4}"#).status == 200)
            try await eventually("the failure to be counted") { try await sim.control("GET", "/webhooks").json["failed"] == .int(1) }
            let status = try await sim.control("GET", "/webhooks").json
            #expect(status["accepted"] == .int(0))
            #expect(status["last_error"]?.stringValue?.contains("127.0.0.1:1") == true)
        }
    }

    @Test func registrationNeedsAnHTTPURLAndASecret() async throws {
        try await Sim.with { sim async throws -> Void in
            #expect(try await sim.control("POST", "/webhooks", #"{"url":"https://x.example/h","secret":"s"}"#).status == 400)
            #expect(try await sim.control("POST", "/webhooks", #"{"url":"http://127.0.0.1:9/h"}"#).status == 400)
            #expect(try await sim.control("GET", "/webhooks").json["url"] == .null)
        }
    }

    /// changegate's listener on a free port, its accepted notices collected.
    func withReceiver(_ body: (_ url: String, _ received: Received) async throws -> Void) async throws {
        let received = Received()
        let (ports, portContinuation) = AsyncStream<Int?>.makeStream()
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let listener = WebhookListener(host: "127.0.0.1", port: 0, verifier: WebhookVerifier(secret: Self.secret), logger: logger,
                                       onListening: { portContinuation.yield($0) }) { n in received.append(n) }
        let group = ServiceGroup(configuration: .init(services: [listener], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var failure: (any Error)?
            var iterator = ports.makeAsyncIterator()
            if let port = await iterator.next() ?? nil {
                do { try await body("http://127.0.0.1:\(port)\(WebhookListener.path)", received) } catch { failure = error }
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            if let failure { throw failure }
        }
    }

    final class Received: Sendable {
        private let list = Mutex<[ChangeNotification]>([])
        func append(_ n: ChangeNotification) { list.withLock { $0.append(n) } }
        var all: [ChangeNotification] { list.withLock { $0 } }
    }

    func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out waiting for \(what)")
    }
}
