import Foundation
import Testing
import TestSupport

/// The operator's commands on a PostgreSQL queue, through the config as an operator runs them: `enqueue`, `logs`,
/// `cancel`, `audit verify`/`export`, `doctor`'s database checks, and `/metrics`' database gauges, against the built daemon.
extension PostgresDaemonTests {
    @Test func theOperatorCommandsWorkOnAPostgreSQLQueue() async throws {
        let projects = """
            [projects.web]
            change_controlled = false
            connection = "sim"
            command = ["/bin/sh", "-c", "echo deployed $CHANGEGATE_RELEASE; echo warned >&2"]

            [projects.gated]
            change_controlled = true
            connection = "sim"
            command = ["/bin/true"]

            [projects.slow]
            change_controlled = false
            connection = "sim"
            command = ["/bin/sleep", "60"]
            """
        let metricsDirectory = try tempDirectory("pg-metrics")
        defer { try? FileManager.default.removeItem(atPath: metricsDirectory) }
        let socket = "\(metricsDirectory)/metrics.sock"
        try await Self.withDaemon(projects: projects, extra: "metrics_listen = \"unix:\(socket)\"") { cluster, d, _ in
            // Each command connects to the server (doctor also to the simulator): run on a thread of its own, not
            // on the cooperative pool the other tests running meanwhile need.
            let config = d.configPath
            func changegate(_ arguments: [String]) async throws -> CommandResult {
                try await PostgresCluster.offPool { try run(Binaries.changegate, arguments + ["--config", config]) }
            }
            // enqueue: the row is in PostgreSQL, as a producer's INSERT would put it, and it runs.
            let queued = try await changegate(["enqueue", "web", "Test", "3.1", "--requested-by", "ops-alice"])
            #expect(queued.status == 0, "\(queued.stderr)")
            let id = try #require(Int64(queued.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(queued)")
            #expect(try cluster.psql("SELECT project || ' ' || release || ' ' || requested_by FROM deployments WHERE id = \(id)",
                                     database: "changegate") == "web 3.1 ops-alice")
            try await Self.waitFor(cluster, id, ["succeeded", "failed", "cancelled"])

            // logs: the task log from PostgreSQL, with the command's streams.
            let logs = try await changegate(["logs", "\(id)"])
            #expect(logs.status == 0, "\(logs.stderr)")
            #expect(logs.stdout.contains("[stdout] deployed 3.1") && logs.stdout.contains("[stderr] warned"), "\(logs.stdout)")
            #expect(logs.stdout.contains("succeeded"), "the state changes are there too: \(logs.stdout)")
            let missing = try await changegate(["logs", "999999"])
            #expect(missing.status == 4 && missing.stderr.contains("no deployment with id 999999"), "\(missing)")

            // enqueue with a key an unfinished deployment holds is refused; cancel stops the running one.
            let slow = try await changegate(["enqueue", "slow", "Test", "1", "--idempotency-key", "release-7"])
            let slowID = try #require(Int64(slow.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(slow)")
            let duplicate = try await changegate(["enqueue", "slow", "Test", "1", "--idempotency-key", "release-7"])
            #expect(duplicate.status == 5 && duplicate.stderr.contains("already has idempotency_key \"release-7\""), "\(duplicate)")
            try await Self.waitFor(cluster, slowID, ["executing"])
            // A change-controlled one waits for approval.
            let gated = try await changegate(["enqueue", "gated", "Production", "9.0"])
            let gatedID = try #require(Int64(gated.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(gated)")
            try await Self.waitFor(cluster, gatedID, ["awaiting_approval"])
            // /metrics reads the gauges from PostgreSQL at each scrape.
            let scraper = MetricsTests()
            var text = ""
            try await eventually("the gauges to show the running deploy and the wait", timeout: .seconds(30)) {
                text = (try? await scraper.scrape(socket)) ?? ""
                return scraper.value("changegate_deploys_running", text) == 1
                    && scraper.value(#"changegate_deployments{state="awaiting_approval"}"#, text) == 1
                    && (scraper.value("changegate_oldest_waiting_seconds", text) ?? 0) > 0
            }
            #expect(scraper.value("changegate_database_readable", text) == 1, "\(text)")
            #expect(scraper.value(#"changegate_deployments{state="executing"}"#, text) == 1, "\(text)")
            #expect((scraper.value("changegate_audit_head_seq", text) ?? 0) >= 1, "\(text)")
            let cancel = try await changegate(["cancel", "\(slowID)"])
            #expect(cancel.status == 0 && cancel.stdout.contains("Cancellation of task \(slowID) requested."), "\(cancel)")
            try await Self.waitFor(cluster, slowID, ["cancelled"])
            #expect(try await changegate(["cancel", "\(gatedID)"]).status == 0)
            try await Self.waitFor(cluster, gatedID, ["cancelled"])
            let again = try await changegate(["cancel", "\(slowID)"])
            #expect(again.status == 1 && again.stderr.contains("has already finished (cancelled)"), "\(again)")

            // audit verify and export read PostgreSQL's chain.
            let verify = try await changegate(["audit", "verify"])
            #expect(verify.status == 0 && verify.stdout.hasPrefix("audit chain OK: "), "\(verify)")
            let export = try await changegate(["audit", "export", "--format", "csv"])
            #expect(export.status == 0, "\(export.stderr)")
            let rows = RFC4180.parse(export.stdout)
            #expect(rows.count == 4, "a header and the three deployments: \(export.stdout)")
            #expect(rows.dropFirst().map { $0[0] } == ["\(id)", "\(slowID)", "\(gatedID)"], "\(rows)")
            #expect(rows.dropFirst().first?.contains("ops-alice") == true, "\(rows)")

            // doctor: the database checks are PostgreSQL's, and this daemon leads.
            let doctor = try await changegate(["doctor"])
            #expect(doctor.stdout.contains("OK    database: postgresql://\(cluster.superuser)@127.0.0.1:\(cluster.port)/changegate"), "\(doctor.stdout)")
            #expect(doctor.stdout.contains("OK    database schema: schema is current"), "\(doctor.stdout)")
            #expect(doctor.stdout.contains("OK    database leader: \(ProcessInfo.processInfo.hostName) (pid \(d.process?.processIdentifier ?? 0)"), "\(doctor.stdout)")
            d.stop()
            let alone = try await changegate(["doctor"])
            #expect(alone.status == 6 && alone.stdout.contains("FAIL  database leader: no daemon leads the queue"), "\(alone.stdout)")
            #expect(!doctor.stdout.contains(cluster.password) && !alone.stdout.contains(cluster.password))
        }
    }
}
