import Foundation
import Testing
import TestSupport

/// The poll's cost against the simulator over HTTP: one request a cycle whatever the number waiting, the reconcile
/// on its own cadence, and an approval seen through the delta read.
@Suite(.serialized, .ownThreads) struct PollCostTests {
    /// 100 deployments wait on 100 changes; while nothing changes, every request is the one delta read of a cycle.
    @Test func aPollCycleCostsOneRequestHoweverManyWait() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, pollInterval: "1s", projects: DaemonFlowTests.project("web", command: "/bin/true"),
                                  extra: "reconcile_interval = \"1h\"")
        try await d.startAndWait()
        var numbers: [String] = []
        for i in 0..<100 {
            let change = try await sim.createChange(["short_description": "waiting \(i)", "state": -2])
            numbers.append(change["number"] as! String)
        }
        let ids = try numbers.map { try insert(d.database, ["project": "web", "environment": "Production", "release": "1", "change_number": $0]) }
        for id in ids { _ = try await d.waitForState(id, ["awaiting_approval"], timeout: .seconds(60)) }
        try await Task.sleep(for: .seconds(3))  // the reads by number of newly watched changes are done
        try await sim.resetRequests()
        try await Task.sleep(for: .seconds(6))
        let log = (try await sim.requests()["log"] as? [[String: Any]] ?? []).filter { ($0["path"] as? String) != "/oauth_token.do" }
        let deltas = log.filter { ($0["query"] as? String ?? "").contains("RELATIVEGE") }
        #expect(deltas.count >= 2, "the poll ran: \(log.count) requests")
        #expect(log.count == deltas.count, "nothing but one delta read a cycle: \(log.map { "\($0["path"] ?? "") \($0["query"] ?? "")" })")
        for entry in deltas {
            #expect(entry["path"] as? String == "/api/now/table/change_request")
            #expect((entry["query"] as? String ?? "").contains("sysparm_fields="), "only the decision's fields")
        }
        // An approval arrives through the delta read.
        try await sim.setState(numbers[42], -1)
        #expect(try await d.waitForTerminal(ids[42], timeout: .seconds(60)) == "succeeded")
        #expect(try d.state(ids[41]) == "awaiting_approval")
    }

    /// The reconcile reads every watched change by number on its cadence, in ⌈N/100⌉ requests.
    @Test func theReconcileReadsEveryWatchedChangeByNumber() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, pollInterval: "1s", projects: DaemonFlowTests.project("web", command: "/bin/true"),
                                  extra: "reconcile_interval = \"3s\"")
        try await d.startAndWait()
        let change = try await sim.createChange(["short_description": "waiting", "state": -2])
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "1", "change_number": change["number"] as? String])
        _ = try await d.waitForState(id, ["awaiting_approval"])
        try await sim.resetRequests()
        try await Task.sleep(for: .seconds(7))
        let queries = (try await sim.requests()["log"] as? [[String: Any]] ?? []).compactMap { $0["query"] as? String }
        let byNumber = queries.filter { $0.contains("numberIN") }
        #expect(byNumber.count >= 1, "a reconcile within 7 s at reconcile_interval = 3s: \(queries)")
        #expect(queries.filter { $0.contains("RELATIVEGE") }.count >= 2, "delta reads between them")
    }

    /// A small request budget stretches the polls, and `changegate status` and the log say so.
    @Test func theRequestBudgetStretchesPollsAndStatusSaysSo() async throws {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, pollInterval: "1s", projects: DaemonFlowTests.project("web", command: "/bin/true"))
        var config = try String(contentsOfFile: d.configPath, encoding: .utf8)
        config = config.replacingOccurrences(of: "password_file = \"\(d.dir)/password\"", with: "password_file = \"\(d.dir)/password\"\nrequests_per_hour = 120")
        try config.write(toFile: d.configPath, atomically: true, encoding: .utf8)
        try await d.startAndWait()
        let change = try await sim.createChange(["short_description": "waiting", "state": -2])
        let id = try insert(d.database, ["project": "web", "environment": "Production", "release": "1", "change_number": change["number"] as? String])
        _ = try await d.waitForState(id, ["awaiting_approval"])
        // 120 an hour allow a burst of 12 requests, then one every 33 s.
        try await eventually("the stretch in changegate status", timeout: .seconds(60)) {
            try d.cli(["status"]).stdout.contains("poll.sim: polls stretched")
        }
        #expect(try d.cli(["status"]).stdout.contains("requests_per_hour = 120"))
        #expect(d.log.contains("polls stretched"), "and the journal (here the log) said so")
        try await sim.resetRequests()
        try await Task.sleep(for: .seconds(5))
        #expect(try await sim.requestTotal() <= 1, "while stretched, at most one request in 5 s, not five")
    }
}
