import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import Testing
import TestSupport

/// Push notifications end to end: the built daemon with `webhook_listen` and a poll interval no test waits for,
/// the simulator as the instance whose business rule posts signed notices.
@Suite(.serialized, .ownThreads) struct PushTests {
    static let secret = "push-test-secret-0123456789abcdef0123"
    /// Longer than any test here runs: a deployment that completes did so because of a notice, not a poll.
    static let pollInterval = "120s"

    /// A daemon with the webhook on a free loopback port, its secret in a 0600 file, started and listening.
    static func daemon(_ sim: SimulatorProcess) async throws -> (DaemonProcess, url: String) {
        let port = try freeLoopbackPort()
        let d = try DaemonProcess(simulator: sim, pollInterval: pollInterval, projects: "", extra: """
            webhook_listen = "127.0.0.1:\(port)"
            webhook_secret_file = "@DIR@/webhook-secret"
            """)
        let config = try String(contentsOfFile: d.configPath, encoding: .utf8).replacingOccurrences(of: "@DIR@", with: d.dir)
        try config.write(toFile: d.configPath, atomically: true, encoding: .utf8)
        try secret.write(toFile: "\(d.dir)/webhook-secret", atomically: true, encoding: .utf8)
        chmod("\(d.dir)/webhook-secret", 0o600)
        let deploy = try d.script("deploy.sh", "echo deployed")
        try d.configure(DaemonFlowTests.project("web", command: deploy))
        try await d.startAndWait()
        try await eventually("the webhook listener to be up") { d.log.contains("Push notifications accepted at") }
        return (d, "http://127.0.0.1:\(port)/changegate/v1/change-updated")
    }

    /// A change the daemon created for a new row, waiting for approval.
    static func waitingChange(_ d: DaemonProcess) async throws -> (id: Int64, number: String, sysID: String) {
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "1.0"])
        _ = try await d.waitForState(id, ["awaiting_approval"])
        return (id, try d.column(id, "change_number"), try d.column(id, "change_sys_id"))
    }

    @Test func aNotifiedApprovalRunsTheDeploymentBeforeAnyPoll() async throws {
        let sim = try await SimulatorProcess()
        let (d, url) = try await Self.daemon(sim)
        _ = try await HTTP.json(.POST, "\(sim.base)/_sim/webhooks", body: ["url": url, "secret": Self.secret])
        let change = try await Self.waitingChange(d)
        try await sim.setState(change.number, -1)
        // Well inside the 120 s poll interval: only the notice can have told the daemon.
        #expect(try await d.waitForTerminal(change.id, timeout: .seconds(60)) == "succeeded")
        var webhooks: [String: Any] = [:]
        try await eventually("the simulator to record the 202") {
            webhooks = try await HTTP.json(.GET, "\(sim.base)/_sim/webhooks") as! [String: Any]
            return (webhooks["accepted"] as? Int ?? 0) >= 1
        }
        #expect(webhooks["failed"] as? Int == 0)
    }

    @Test func forgedReplayedAndUnsignedNotificationsChangeNothing() async throws {
        let sim = try await SimulatorProcess()
        let (d, url) = try await Self.daemon(sim)
        let change = try await Self.waitingChange(d)
        let body = Array(#"{"sys_id":"\#(change.sysID)","number":"\#(change.number)"}"#.utf8)

        // A genuine notice while the change is still New: the daemon reads the change once (nothing to decide).
        let genuine = Self.signed(body, key: Self.secret)
        let before = try await Self.readsOf(change, sim)
        #expect(try await Self.post(url, body, genuine) == 202)
        try await eventually("the notified read") { try await Self.readsOf(change, sim) == before + 1 }

        // The change is approved behind the daemon's back (no webhook registered): only a poll or a notice tells it.
        try await sim.setState(change.number, -1)
        let reads = try await Self.readsOf(change, sim)
        #expect(try await Self.post(url, body, Self.signed(body, key: "a guessed secret, as long as the real one")) == 401)
        #expect(try await Self.post(url, body, [:]) == 401)
        #expect(try await Self.post(url, body, ["X-Changegate-Signature": genuine["X-Changegate-Signature"]!]) == 401)
        #expect(try await Self.post(url, body, genuine) == 401, "the genuine request again is a replay")
        // A valid request that would make the daemon read is seen within milliseconds; give these ample time.
        try await Task.sleep(for: .seconds(3))
        #expect(try await Self.readsOf(change, sim) == reads, "no refused notice made the daemon read the change")
        #expect(try d.state(change.id) == "awaiting_approval")
        #expect(d.log.contains("Push notification refused: forged"))

        // And a fresh genuine notice is believed (by reading the change), so the refusals above were the signature's doing.
        #expect(try await Self.post(url, body, Self.signed(body, key: Self.secret)) == 202)
        #expect(try await d.waitForTerminal(change.id, timeout: .seconds(60)) == "succeeded")
    }

    // MARK: helpers

    static func signed(_ body: [UInt8], key: String) -> [String: String] {
        let timestamp = String(format: "%.3f", Date().timeIntervalSince1970)
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(timestamp).".utf8) + body, using: SymmetricKey(data: Array(key.utf8)))
        return ["X-Changegate-Timestamp": timestamp, "X-Changegate-Signature": "sha256=" + mac.map { String(format: "%02x", $0) }.joined()]
    }

    static func post(_ url: String, _ body: [UInt8], _ headers: [String: String]) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }

    /// API requests that named this change (by number or sys_id), from the simulator's request log.
    static func readsOf(_ change: (id: Int64, number: String, sysID: String), _ sim: SimulatorProcess) async throws -> Int {
        let log = try await sim.requests()["log"] as? [[String: Any]] ?? []
        return log.filter { entry in
            let text = "\(entry["path"] as? String ?? "")?\((entry["query"] as? String ?? "").removingPercentEncoding ?? "")"
            return text.contains(change.number) || text.contains(change.sysID)
        }.count
    }
}
