import Foundation
import Testing
import TestSupport

extension PostgresDaemonTests {
    /// A real network cut: the leader runs in a network namespace of its own (another host, as far as the network
    /// goes) and its link is taken down while it runs a deploy, so its connections hang instead of failing. By its
    /// own clock it stops the deploy and exits with status 8 before the standby on this host may take over; the
    /// standby leads after the lease, records the row as interrupted and runs the next one; the healed daemon comes
    /// back as a standby.
    @Test func aLeaderCutOffTheNetworkStopsItsDeployBeforeTheStandbyLeads() async throws {
        let namespace = try NetworkNamespace()
        try await PostgresCluster.with(listen: [namespace.hostAddress], clients: [namespace.network]) { cluster in
            try cluster.createDatabase("changegate")
            func psql(_ sql: String) throws -> String { try cluster.psql(sql, database: "changegate") }
            // The simulator where the namespace reaches it; these projects never call it.
            let sim = try await SimulatorProcess(host: namespace.hostAddress)
            let projects = try FailoverProjects()
            defer { projects.remove() }
            func url(_ host: String) -> String { "postgresql://\(cluster.superuser)@\(host):\(cluster.port)/changegate?sslmode=disable" }
            // The default lease: its margins (stop at 60 %, kill at 90 %) hold on a loaded machine too.
            let lease = 8.0
            let a = try DaemonProcess(simulator: sim, projects: projects.toml, extra: "leader_lease = \"\(Int(lease))s\"",
                                      postgres: (url(namespace.hostAddress), cluster.password))
            a.launcher = namespace.launcher
            let b = try DaemonProcess(simulator: sim, projects: projects.toml, extra: "leader_lease = \"\(Int(lease))s\"",
                                      postgres: (url("127.0.0.1"), cluster.password))
            do {
                try a.start()
                try await eventually("the daemon in the namespace to lead", timeout: .seconds(30)) { a.log.contains("Leading the queue with epoch 1") }
                try b.start()
                try await eventually("the daemon on this host to stand by", timeout: .seconds(30)) { b.log.contains("ready as a standby: standby, leader is") }

                let first = try #require(Int64(try psql("INSERT INTO deployments (project, environment, release) VALUES ('web', 'Test', '1') RETURNING id")))
                try await Self.waitFor(cluster, first, ["executing"])
                let child = try await projects.deployPID(release: "1")

                let cut = ContinuousClock.now
                try namespace.cut()
                var childGone: Duration?, leaderGone: Duration?, bothRan = false
                try await eventually("the standby to take over", timeout: .seconds(30), every: .milliseconds(20)) {
                    let leads = b.log.contains("Leading the queue with epoch 2")
                    if childGone == nil, processGone(child) { childGone = ContinuousClock.now - cut }
                    if leaderGone == nil, a.process?.isRunning == false { leaderGone = ContinuousClock.now - cut }
                    if leads && !processGone(child) { bothRan = true }
                    return leads
                }
                let failover = ContinuousClock.now - cut
                print("changegate postgresql: leader cut off the network → its deploy stopped after \(childGone.map { "\($0)" } ?? "never"), standby leads after \(failover) (lease \(Int(lease))s)")
                #expect(!bothRan, "the cut-off leader's deploy still ran when the standby led")
                let stopped = try #require(childGone, "the deploy was stopped by its own daemon, before the takeover")
                #expect(stopped < .seconds(lease), "stopped within the lease: \(stopped)")
                // The lease runs from the last renewal, at most a quarter of it before the cut.
                #expect(failover >= .seconds(lease * 3 / 4), "no takeover before the lease ran out: \(failover)")
                try await eventually("the cut-off leader to exit") { a.process?.isRunning == false }
                #expect(a.process?.terminationStatus == 8, "\(a.log.suffix(2000))")
                #expect(leaderGone.map { $0 < failover } ?? true, "the cut-off leader exited before the takeover")
                #expect(a.log.contains("Lost the leader lease (epoch 1): it was not renewed"), "\(a.log.suffix(2000))")

                try await Self.waitFor(cluster, first, ["failed"])
                #expect(try psql("SELECT outcome FROM deployments WHERE id = \(first)") == "interrupted")
                let next = try #require(Int64(try psql("INSERT INTO deployments (project, environment, release) VALUES ('quick', 'Test', '2') RETURNING id")))
                try await Self.waitFor(cluster, next, ["succeeded"])

                // Healed, the old leader starts again and waits as a standby. As systemd's Restart= does, a start
                // that finds the link not usable yet (it exits) is followed by another.
                try namespace.heal()
                try await eventually("the healed daemon to stand by", timeout: .seconds(40), every: .milliseconds(200)) {
                    if a.process?.isRunning != true { try a.start() }
                    return a.log.contains("standby, leader is") && a.log.contains("(epoch 2)")
                }
                #expect(try psql("SELECT count(*) FROM deployments WHERE state NOT IN ('succeeded','failed','cancelled')") == "0")
            } catch {
                throw HarnessError("\(error)\nA (cut off):\n\(a.log.suffix(2500))\nB:\n\(b.log.suffix(2500))")
            }
            a.stop()
            b.stop()
        }
    }
}
