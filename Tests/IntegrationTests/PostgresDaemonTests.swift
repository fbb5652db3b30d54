import Foundation
import Testing
import TestSupport

/// The built daemon on a PostgreSQL queue (a throw-away cluster), rows inserted with `psql` as producers do.
/// The failover tests' projects: `web`'s deploy writes its pid to `<directory>/<release>.pid` and sleeps a minute
/// (so a test can watch it stop), `quick` ends at once. Neither is change controlled.
struct FailoverProjects {
    let directory = NSTemporaryDirectory() + "cg-ha-\(UUID().uuidString.prefix(8))"
    var toml: String {
        """
        [projects.web]
        change_controlled = false
        connection = "sim"
        command = ["/bin/sh", "-c", "echo $$ > \(directory)/$CHANGEGATE_RELEASE.pid; exec sleep 60"]

        [projects.quick]
        change_controlled = false
        connection = "sim"
        command = ["/bin/true"]
        """
    }

    init() throws { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    /// The pid of `web`'s deploy of `release`, once it has written it.
    func deployPID(release: String) async throws -> Int32 {
        let path = "\(directory)/\(release).pid"
        try await eventually("the deploy of \(release) to write its pid") { FileManager.default.fileExists(atPath: path) }
        return try #require(Int32(try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
    }
}

@Suite(.serialized, .ownThreads) struct PostgresDaemonTests {
    /// A cluster with an empty `changegate` database, and a daemon configured for it with its password in a file.
    static func withDaemon(projects: String, extra: String = "", _ body: (PostgresCluster, DaemonProcess, SimulatorProcess) async throws -> Void) async throws {
        try await PostgresCluster.with { cluster in
            try cluster.createDatabase("changegate")
            let sim = try await SimulatorProcess()
            let url = "postgresql://\(cluster.superuser)@127.0.0.1:\(cluster.port)/changegate?sslmode=disable"
            let d = try DaemonProcess(simulator: sim, projects: projects, extra: extra, postgres: (url, cluster.password))
            try d.start()
            do {
                try await eventually("the daemon to be ready on PostgreSQL", timeout: .seconds(30)) { d.log.contains("changegate is ready") }
                try await body(cluster, d, sim)
            } catch {
                throw HarnessError("\(error)\ndaemon log tail:\n\(d.log.suffix(3000))")
            }
            d.stop()
        }
    }

    static func state(_ cluster: PostgresCluster, _ id: Int64) throws -> String {
        try cluster.psql("SELECT state FROM deployments WHERE id = \(id)", database: "changegate")
    }

    static func waitFor(_ cluster: PostgresCluster, _ id: Int64, _ states: Set<String>, timeout: Duration = .seconds(30)) async throws {
        try await eventually("task \(id) in \(states.sorted())", timeout: timeout, every: .milliseconds(20)) {
            states.contains(try state(cluster, id))
        }
    }

    @Test func rowsInsertedWithPsqlRunToSucceededWithAndWithoutAChange() async throws {
        let projects = """
            [projects.web]
            change_controlled = false
            connection = "sim"
            command = ["/bin/true"]

            [projects.web-shop]
            change_controlled = true
            connection = "sim"
            command = ["/bin/echo", "deploying web-shop"]
            """
        try await Self.withDaemon(projects: projects) { cluster, d, sim in
            func psql(_ sql: String) throws -> String { try cluster.psql(sql, database: "changegate") }
            // Not change controlled: straight to the command. The insert wakes the daemon through NOTIFY: the
            // intake interval is 1 s and the safety read 10 s, so a start within the first second is the push.
            let started = ContinuousClock.now
            let plain = try #require(Int64(try psql("INSERT INTO deployments (project, environment, release) VALUES ('web', 'Test', '1.0') RETURNING id")))
            try await Self.waitFor(cluster, plain, ["executing", "completing", "succeeded"])
            let intake = ContinuousClock.now - started
            try await Self.waitFor(cluster, plain, ["succeeded", "failed", "cancelled"])
            #expect(try psql("SELECT state || ' ' || outcome || ' ' || exit_code FROM deployments WHERE id = \(plain)") == "succeeded not_change_controlled 0")
            print("changegate postgresql: psql insert → row picked up by the daemon: \(intake)")
            #expect(intake < .seconds(5), "picked up through NOTIFY, not the 10 s safety read")

            // Change controlled: a change is created, approved in the simulator, and the command runs.
            let controlled = try #require(Int64(try psql("INSERT INTO deployments (project, environment, release) VALUES ('web-shop', 'Production', '2.4.1') RETURNING id")))
            try await Self.waitFor(cluster, controlled, ["awaiting_approval"])
            let number = try psql("SELECT change_number FROM deployments WHERE id = \(controlled)")
            #expect(number.hasPrefix("CHG"))
            try await sim.setState(number, -1)
            try await Self.waitFor(cluster, controlled, ["succeeded", "failed", "cancelled"])
            #expect(try psql("SELECT state || ' ' || outcome FROM deployments WHERE id = \(controlled)") == "succeeded succeeded")
            #expect(try psql("SELECT line FROM task_log WHERE task_id = \(controlled) AND stream = 'stdout'") == "deploying web-shop")
            // The audit chain was written, linked record to record, by the chain trigger's rules.
            let links = try psql("""
                SELECT count(*) FROM audit_log a LEFT JOIN audit_log p ON p.seq = a.seq - 1
                WHERE a.seq > 1 AND a.prev_hash IS DISTINCT FROM p.hash
                """)
            #expect(links == "0")
            #expect(Int(try psql("SELECT count(*) FROM audit_log WHERE task_id = \(controlled)")) ?? 0 >= 3)

            #expect(!d.log.contains(cluster.password), "the password is never logged")
        }
    }

    /// Two daemons on one queue: one leads, the other waits as a standby and says who leads. The leader is killed
    /// with SIGKILL during a deploy: the standby takes over once the lease ran out, stops the leftover (same host
    /// here), records the row as interrupted and runs the next one. Then the new leader is frozen with SIGSTOP
    /// for longer than its lease (a partition): a third daemon takes over; the frozen one, thawed, finds its lease
    /// gone, writes nothing more and exits with status 8.
    @Test func aStandbyTakesOverFromAKilledAndFromAFrozenLeader() async throws {
        try await PostgresCluster.with { cluster in
            try cluster.createDatabase("changegate")
            let sim = try await SimulatorProcess()
            func psql(_ sql: String) throws -> String { try cluster.psql(sql, database: "changegate") }
            let url = "postgresql://\(cluster.superuser)@127.0.0.1:\(cluster.port)/changegate?sslmode=disable"
            let projects = try FailoverProjects()
            defer { projects.remove() }
            let daemons = try (0..<3).map { _ in try DaemonProcess(simulator: sim, projects: projects.toml, extra: "leader_lease = \"4s\"", postgres: (url, cluster.password)) }
            let (a, b, c) = (daemons[0], daemons[1], daemons[2])
            do {
                try a.start()
                try await eventually("the first daemon to lead", timeout: .seconds(30)) { a.log.contains("Leading the queue with epoch 1") }
                try b.start()
                try await eventually("the second daemon to stand by", timeout: .seconds(30)) { b.log.contains("ready as a standby: standby, leader is") }
                #expect(b.log.contains("(epoch 1)"))
                #expect(try psql("SELECT string_agg(role, ',' ORDER BY role) FROM daemons") == "leader,standby")

                // A deploy runs on the leader; the leader is killed.
                let release = "1.0"
                let first = try #require(Int64(try psql("INSERT INTO deployments (project, environment, release) VALUES ('web', 'Test', '\(release)') RETURNING id")))
                try await Self.waitFor(cluster, first, ["executing"])
                let child = try await projects.deployPID(release: release)
                let killed = ContinuousClock.now
                a.kill9()
                try await eventually("the standby to take over", timeout: .seconds(30), every: .milliseconds(20)) { b.log.contains("Leading the queue with epoch 2") }
                let failover = ContinuousClock.now - killed
                print("changegate postgresql: leader killed → standby leads: \(failover) (lease 4s)")
                #expect(b.log.contains("took over from"))
                try await Self.waitFor(cluster, first, ["failed"])
                #expect(try psql("SELECT outcome FROM deployments WHERE id = \(first)") == "interrupted")
                #expect(try psql("SELECT reason FROM deployments WHERE id = \(first)").contains("stopped with SIGTERM"))
                #expect(processGone(child), "the leftover deploy is stopped")
                let next = try #require(Int64(try psql("INSERT INTO deployments (project, environment, release) VALUES ('quick', 'Test', '2') RETURNING id")))
                try await Self.waitFor(cluster, next, ["succeeded"])

                // The new leader is frozen while it runs a deploy: a third daemon takes over after the lease.
                try c.start()
                try await eventually("the third daemon to stand by", timeout: .seconds(30)) { c.log.contains("ready as a standby: standby, leader is") }
                let release2 = "3.0"
                let third = try #require(Int64(try psql("INSERT INTO deployments (project, environment, release) VALUES ('web', 'Test', '\(release2)') RETURNING id")))
                try await Self.waitFor(cluster, third, ["executing"])
                let frozen = try #require(b.process?.processIdentifier)
                kill(frozen, SIGSTOP)
                try await eventually("the third daemon to take over", timeout: .seconds(30), every: .milliseconds(20)) { c.log.contains("Leading the queue with epoch 3") }
                try await Self.waitFor(cluster, third, ["failed"])
                #expect(try psql("SELECT outcome FROM deployments WHERE id = \(third)") == "interrupted")
                let written = try psql("SELECT updated_at FROM deployments WHERE id = \(third)")
                kill(frozen, SIGCONT)
                b.process?.waitUntilExit()
                #expect(b.process?.terminationStatus == 8, "\(b.log.suffix(2000))")
                #expect(b.log.contains("Lost the leader lease (epoch 2)"))
                #expect(try psql("SELECT updated_at FROM deployments WHERE id = \(third)") == written, "the old leader wrote nothing after it thawed")
                let leader = c.process?.processIdentifier ?? 0
                #expect(try psql("SELECT epoch || ' ' || pid FROM leader_lease") == "3 \(leader)")
                // The operator's view: who leads, on which host, with which epoch.
                let status = try run(Binaries.changegate, ["status", "--config", c.configPath])
                #expect(status.status == 0, "\(status.stderr)")
                #expect(status.stdout.contains("Leader: \(ProcessInfo.processInfo.hostName) (pid \(leader), epoch 3), lease"), "\(status.stdout)")
                #expect(status.stdout.contains("  leader \(ProcessInfo.processInfo.hostName) pid \(leader)"), "\(status.stdout)")
                #expect(status.stdout.contains("interrupted"), "the tasks are listed: \(status.stdout)")
                // Every deployment ended, once; the audit chain is whole.
                #expect(try psql("SELECT count(*) FROM deployments WHERE state NOT IN ('succeeded','failed','cancelled')") == "0")
                #expect(try psql("""
                    SELECT count(*) FROM audit_log x LEFT JOIN audit_log p ON p.seq = x.seq - 1 WHERE x.seq > 1 AND x.prev_hash IS DISTINCT FROM p.hash
                    """) == "0")
            } catch {
                throw HarnessError("\(error)\nA:\n\(a.log.suffix(2500))\nB:\n\(b.log.suffix(2500))\nC:\n\(c.log.suffix(2500))")
            }
            for d in daemons { d.stop() }
        }
    }
}
