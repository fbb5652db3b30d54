import AsyncHTTPClient
import Foundation
import Testing
import TestSupport

/// The built daemon serving `/metrics` on a unix socket, scraped while real deployments move.
@Suite(.serialized, .ownThreads) struct MetricsTests {
    /// The daemon with `metrics_listen` on a socket in its folder, one change-controlled project.
    func daemon(_ sim: SimulatorProcess) throws -> (DaemonProcess, socket: String) {
        let dir = try tempDirectory("metrics")
        let socket = "\(dir)/metrics.sock"
        let d = try DaemonProcess(simulator: sim, projects: DaemonFlowTests.project("web-shop", command: "/bin/true"),
                                  extra: "metrics_listen = \"unix:\(socket)\"")
        return (d, socket)
    }

    func scrape(_ socket: String) async throws -> String {
        let url = "http+unix://\(socket.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? socket)/metrics"
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        guard response.status == .ok else { throw HarnessError("/metrics answered \(response.status)") }
        return String(buffer: try await response.body.collect(upTo: 16 << 20))
    }

    /// The value of one series (`name{labels}` exactly as exposed), or nil when absent.
    func value(_ series: String, _ text: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// The sum over every series of a metric whose labels contain `matching`.
    func sum(_ metric: String, matching: String = "", _ text: String) -> Double {
        text.split(separator: "\n").filter { $0.hasPrefix(metric + "{") && $0.contains(matching) }
            .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
    }

    /// Values read from the database and the ServiceNow transport: these need no scheduler calls.
    @Test func gaugesAndServiceNowCountsMoveWithADeployment() async throws {
        let sim = try await SimulatorProcess()
        let (d, socket) = try daemon(sim)
        defer { d.stop(); try? FileManager.default.removeItem(atPath: (socket as NSString).deletingLastPathComponent) }
        try await d.startAndWait()
        var text = ""
        try await eventually("the metrics socket to answer", timeout: .seconds(30)) {
            guard let scraped = try? await scrape(socket) else { return false }
            text = scraped
            return true
        }
        #expect(value(#"changegate_deployments{state="awaiting_approval"}"#, text) == 0, "\(text)")
        #expect(value("changegate_database_readable", text) == 1)
        let auditBefore = value("changegate_audit_head_seq", text) ?? -1

        let id = try insert(d.database, ["project": "web-shop", "environment": "Production", "release": "1"])
        _ = try await d.waitForState(id, ["awaiting_approval"])
        try await eventually("the wait to show", timeout: .seconds(30)) {
            text = try await scrape(socket)
            return value(#"changegate_deployments{state="awaiting_approval"}"#, text) == 1
                && (value("changegate_oldest_waiting_seconds", text) ?? 0) > 0
        }
        let requestsWaiting = sum("changegate_servicenow_requests_total", matching: #"connection="sim""#, text)
        #expect(requestsWaiting > 0, "the change was created through the transport: \(text)")
        #expect(text.contains("changegate_servicenow_request_duration_seconds_bucket{connection=\"sim\""))

        try await sim.setState(try d.column(id, "change_number"), -1)
        #expect(try await d.waitForTerminal(id) == "succeeded")
        text = try await scrape(socket)
        #expect(value(#"changegate_deployments{state="awaiting_approval"}"#, text) == 0)
        #expect(value("changegate_oldest_waiting_seconds", text) == 0)
        #expect(value("changegate_deploys_running", text) == 0)
        #expect((value("changegate_audit_head_seq", text) ?? 0) > auditBefore, "audit records were appended")
        #expect(sum("changegate_servicenow_requests_total", matching: #"connection="sim""#, text) > requestsWaiting)
    }

    /// Counted from the scheduler's calls into `DaemonMetrics` (outcome, approval wait, transitions).
    @Test
    func outcomesAndApprovalWaitsAreCountedFromTheScheduler() async throws {
        let sim = try await SimulatorProcess()
        let (d, socket) = try daemon(sim)
        defer { d.stop(); try? FileManager.default.removeItem(atPath: (socket as NSString).deletingLastPathComponent) }
        try await d.startAndWait()
        let id = try insert(d.database, ["project": "web-shop", "environment": "Production", "release": "1"])
        _ = try await d.waitForState(id, ["awaiting_approval"])
        try await sim.setState(try d.column(id, "change_number"), -1)
        #expect(try await d.waitForTerminal(id) == "succeeded")
        let text = try await scrape(socket)
        #expect(value(#"changegate_deployment_outcomes_total{outcome="succeeded",project="web-shop",environment="Production"}"#, text) == 1, "\(text)")
        #expect(value("changegate_approval_wait_seconds_count", text) == 1)
        #expect((value(#"changegate_deployment_transitions_total{to="executing"}"#, text) ?? 0) >= 1)
        #expect((value(#"changegate_poll_cycle_lag_seconds{connection="sim"}"#, text) ?? -1) >= 0)
    }
}
