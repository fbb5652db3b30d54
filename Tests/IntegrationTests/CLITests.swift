import Foundation
import Testing
import TestSupport

/// The operator commands against a running daemon: enqueue, status, logs -f.
@Suite(.ownThreads) struct CLITests {
    @Test func enqueueStatusAndFollowTheLog() async throws {
        let d = try DaemonProcess(simulator: nil, projects: "")
        try d.configure(DaemonFlowTests.project("web", command: try d.script("deploy.sh", "echo one; sleep 1; echo two"), controlled: false))
        try await d.startAndWait()
        let enqueued = try d.cli(["enqueue", "web", "Test", "4.2", "--var", "FLAG=on", "--requested-by", "carol"])
        #expect(enqueued.status == 0, "\(enqueued.stderr)")
        let id = try #require(Int64(enqueued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        // Follows until the task ends, then returns.
        let followed = try d.cli(["logs", "\(id)", "-f"])
        #expect(followed.status == 0)
        #expect(followed.stdout.contains("[stdout] one") && followed.stdout.contains("[stdout] two"))
        #expect(followed.stdout.contains("→ succeeded"))
        let status = try d.cli(["status", "\(id)", "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect(json["state"] as? String == "succeeded")
        #expect(json["outcome"] as? String == "not_change_controlled")
        #expect(json["requested_by"] as? String == "carol")
        let table = try d.cli(["status"])
        #expect(table.stdout.contains("ID") && table.stdout.contains("succeeded"))
        let missing = try d.cli(["status", "999"])
        #expect(missing.status == 4 && missing.stderr.contains("no deployment with id 999"))
        let duplicate = try d.cli(["enqueue", "web", "Test", "1", "--idempotency-key", "k1", "--not-before", "2099-01-01T00:00:00Z"])
        #expect(duplicate.status == 0)
        let again = try d.cli(["enqueue", "web", "Test", "1", "--idempotency-key", "k1"])
        #expect(again.status == 5 && again.stderr.contains("idempotency_key"))
    }
}
