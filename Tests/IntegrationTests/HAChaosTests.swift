import Foundation
import Testing
import TestSupport

/// Three daemons on one PostgreSQL queue with the default lease, 200 deployments, and the leader killed with
/// SIGKILL, frozen with SIGSTOP for longer than its lease (a partition) and restarted, at random moments.
/// Asserted afterwards: every row terminal and none lost, at most one start per deployment (none started by two
/// daemons), every change-controlled start inside Implement as ServiceNow saw it at that moment, exactly one change
/// per deployment, the audit chain verifying. Printed: the failover times.
@Suite(.serialized, .ownThreads) struct HAChaosTests {
    static let total = 200

    @Test func twoHundredDeploymentsThroughKilledFrozenAndRestartedLeaders() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["CHANGEGATE_CHAOS_SEED"] ?? "") ?? UInt64.random(in: 1...999_999)
        print("changegate ha chaos: seed \(seed) (CHANGEGATE_CHAOS_SEED to repeat)")
        var random = SeededRandom(seed)
        try await PostgresCluster.with { cluster in
            try cluster.createDatabase("changegate")
            func psql(_ sql: String) throws -> String { try cluster.psql(sql, database: "changegate") }
            let sim = try await SimulatorProcess()
            let url = "postgresql://\(cluster.superuser)@127.0.0.1:\(cluster.port)/changegate?sslmode=disable"
            let work = try tempDirectory("chaos")
            defer { try? FileManager.default.removeItem(atPath: work) }
            let starts = "\(work)/starts.log"
            // Each start is one appended line (shorter than PIPE_BUF, so never interleaved): task, pid, and for a
            // controlled deployment the change's state as the simulator tells it right then.
            let deploy = """
                s=-; if [ -n "$CHANGEGATE_CHANGE_NUMBER" ]; then s=$(curl -s \(sim.base)/_sim/changes/$CHANGEGATE_CHANGE_NUMBER | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'); fi
                echo "start $CHANGEGATE_TASK_ID $$ $s" >> \(starts); sleep 0.2; echo "end $CHANGEGATE_TASK_ID $$" >> \(starts)
                """
            let projects = """
                [projects.plain]
                change_controlled = false
                connection = "sim"
                max_concurrent = 4
                command = ["/bin/sh", "-c", \(tomlString(deploy))]

                [projects.gated]
                change_controlled = true
                connection = "sim"
                max_concurrent = 4
                command = ["/bin/sh", "-c", \(tomlString(deploy))]
                """
            let daemons = try (0..<3).map { _ in try DaemonProcess(simulator: sim, projects: projects, postgres: (url, cluster.password)) }
            var failovers: [Duration] = []
            do {
                for d in daemons { try d.start() }
                try await eventually("a leader", timeout: .seconds(30)) { daemons.contains { $0.log.contains("Leading the queue with epoch 1") } }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // Producers: bursts of rows, one in four change controlled.
                    group.addTask {
                        for burst in 0..<10 {
                            let values = (0..<20).map { i -> String in
                                let n = burst * 20 + i
                                return "('\(n % 4 == 0 ? "gated" : "plain")', '\(n % 4 == 0 ? "Production" : "Test")', 'r\(n)')"
                            }
                            _ = try cluster.psql("INSERT INTO deployments (project, environment, release) VALUES \(values.joined(separator: ", "))", database: "changegate")
                            try await Task.sleep(for: .milliseconds(1_500))
                        }
                    }
                    // The change manager: every change a deployment waits on moves to Implement.
                    group.addTask {
                        var approved = Set<String>()
                        while try cluster.psql("SELECT count(*) FROM deployments WHERE state NOT IN ('succeeded','failed','cancelled')", database: "changegate") != "0"
                                || (Int(try cluster.psql("SELECT count(*) FROM deployments", database: "changegate")) ?? 0) < Self.total {
                            let waiting = try cluster.psql("SELECT change_number FROM deployments WHERE state = 'awaiting_approval' AND change_number IS NOT NULL", database: "changegate")
                            for number in waiting.split(separator: "\n").map(String.init) where !approved.contains(number) {
                                if (try? await sim.setState(number, -1)) != nil { approved.insert(number) }
                            }
                            try await Task.sleep(for: .milliseconds(300))
                        }
                    }
                    // Chaos: five actions on whoever leads, at random moments.
                    let actions = ["kill", "stop", "restart", "kill", "stop"]
                    for action in actions {
                        try await Task.sleep(for: .milliseconds(Int64(random.next(in: 1_000...4_000))))
                        let (epoch, pid) = try Self.lease(cluster)
                        guard let leader = daemons.first(where: { $0.process?.processIdentifier == pid && $0.process?.isRunning == true }) else { continue }
                        let began = ContinuousClock.now
                        switch action {
                        case "kill":
                            leader.kill9()
                        case "stop":
                            kill(pid, SIGSTOP)
                        default:
                            leader.stop()
                        }
                        try await eventually("a new leader after \(action) of epoch \(epoch)", timeout: .seconds(40), every: .milliseconds(50)) {
                            let (now, holder) = try Self.lease(cluster)
                            return now > epoch && holder != 0
                        }
                        failovers.append(ContinuousClock.now - began)
                        print("changegate ha chaos: \(action) of the leader (epoch \(epoch)) → epoch \(epoch + 1) leads after \(failovers.last!)")
                        if action == "stop" {
                            kill(pid, SIGCONT)
                            leader.process?.waitUntilExit()
                            #expect(leader.process?.terminationStatus == 8, "a thawed leader that lost its lease exits 8")
                        }
                        try leader.start()
                    }
                    try await group.next()
                    try await group.next()
                }
                try await eventually("every deployment to end", timeout: .seconds(240), every: .milliseconds(250)) {
                    try psql("SELECT count(*) FROM deployments WHERE state NOT IN ('succeeded','failed','cancelled')") == "0"
                }
            } catch {
                throw HarnessError("\(error)\n" + daemons.enumerated().map { "daemon \($0):\n\($1.log.suffix(2500))" }.joined(separator: "\n"))
            }
            for d in daemons { d.stop() }

            // No row lost, every one ended.
            #expect(try psql("SELECT count(*) FROM deployments") == "\(Self.total)")
            #expect(try psql("SELECT count(DISTINCT release) FROM deployments") == "\(Self.total)")
            let outcomes = try psql("SELECT outcome || ':' || count(*) FROM deployments GROUP BY outcome ORDER BY outcome").replacingOccurrences(of: "\n", with: " ")
            // At most one start per deployment; one start and one end for each that succeeded; gated ones only in Implement.
            let lines = ((try? String(contentsOfFile: starts, encoding: .utf8)) ?? "").split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            var startsByTask: [String: Int] = [:], endsByTask: [String: Int] = [:]
            for l in lines where l.count >= 3 {
                if l[0] == "start" { startsByTask[l[1], default: 0] += 1 } else { endsByTask[l[1], default: 0] += 1 }
            }
            #expect(startsByTask.values.allSatisfy { $0 == 1 }, "started twice: \(startsByTask.filter { $0.value > 1 })")
            let succeeded = try psql("SELECT id FROM deployments WHERE state = 'succeeded'").split(separator: "\n").map(String.init)
            #expect(succeeded.allSatisfy { startsByTask[$0] == 1 && endsByTask[$0] == 1 })
            let gatedStarts = lines.filter { $0.count == 4 && $0[0] == "start" && $0[3] != "-" }
            #expect(gatedStarts.allSatisfy { $0[3] == "-1" }, "started outside Implement: \(gatedStarts.filter { $0[3] != "-1" })")
            // Exactly one change per controlled deployment.
            let changes = try await sim.changes()
            let correlations = changes.compactMap { $0["correlation_id"] as? String }.filter { !$0.isEmpty }
            #expect(Set(correlations).count == correlations.count, "a correlation id with two changes")
            let gated = try psql("SELECT count(*) FROM deployments WHERE project = 'gated'")
            #expect(try psql("SELECT count(DISTINCT change_number) FROM deployments WHERE project = 'gated'") == gated)
            #expect("\(changes.count)" == gated, "one change per controlled deployment, and no other")
            let verify = try run(Binaries.changegate, ["audit", "verify", "--config", daemons[0].configPath])
            #expect(verify.status == 0 && verify.stdout.contains("audit chain OK"), "\(verify.stdout)\(verify.stderr)")
            let sorted = failovers.sorted()
            let median = sorted.isEmpty ? .zero : sorted[sorted.count / 2]
            print("changegate ha chaos: \(Self.total) deployments, \(lines.filter { $0.first == "start" }.count) started, outcomes \(outcomes)")
            print("changegate ha chaos: failover with the default 8 s lease over \(sorted.count) takeovers: p50 \(median), max \(sorted.last ?? .zero) (goal ≤ 10 s)")
        }
    }

    /// The lease's epoch and the holder's pid while it is held (pid 0 when it ran out).
    static func lease(_ cluster: PostgresCluster) throws -> (Int64, Int32) {
        let row = try cluster.psql("SELECT epoch || ' ' || CASE WHEN expires_at > now() THEN pid ELSE 0 END FROM leader_lease", database: "changegate")
        let parts = row.split(separator: " ")
        return (Int64(parts.first ?? "") ?? 0, Int32(parts.last ?? "") ?? 0)
    }
}

/// A TOML basic string.
func tomlString(_ s: String) -> String {
    "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n") + "\""
}

/// splitmix64: the same moments for the same seed.
struct SeededRandom {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next(in range: ClosedRange<Int>) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return range.lowerBound + Int(z % UInt64(range.count))
    }
}
