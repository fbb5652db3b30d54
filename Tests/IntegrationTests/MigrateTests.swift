import Foundation
import Testing
import TestSupport

/// `changegate migrate --to postgresql://…`: an SQLite queue the daemon worked on, copied into an empty database
/// with its rows, task logs, audit chain and instance id, and a PostgreSQL daemon carrying on from it.
@Suite(.serialized, .ownThreads) struct MigrateTests {
    static let projects = """
        [projects.web]
        change_controlled = false
        connection = "sim"
        command = ["/bin/echo", "deploying web"]

        [projects.web-shop]
        change_controlled = true
        connection = "sim"
        command = ["/bin/echo", "deploying web-shop"]
        """

    @Test func aWorkedOnQueueMovesWithItsLogsAuditChainAndInstanceAndTheDaemonCarriesOn() async throws {
        let sim = try await SimulatorProcess()
        let old = try DaemonProcess(simulator: sim, projects: Self.projects)
        try await old.startAndWait()
        let plain = try insert(old.database, ["project": "web", "environment": "Test", "release": "1.0"])
        let controlled = try insert(old.database, ["project": "web-shop", "environment": "Production", "release": "2.0"])
        _ = try await old.waitForTerminal(plain)
        _ = try await old.waitForState(controlled, ["awaiting_approval"])
        let number = try old.column(controlled, "change_number")
        try await sim.setState(number, -1)
        #expect(try await old.waitForTerminal(controlled) == "succeeded")
        old.stop()
        func sqlite(_ sql: String) throws -> String { try sqlite3(old.database, sql) }
        let instance = try sqlite("SELECT value FROM meta WHERE key = 'instance_id'")
        let audits = try sqlite("SELECT count(*) FROM audit_log"), lines = try sqlite("SELECT count(*) FROM task_log")
        let head = try sqlite("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")

        try await PostgresCluster.with { cluster in
            try cluster.createDatabase("changegate")
            func psql(_ sql: String) throws -> String { try cluster.psql(sql, database: "changegate") }
            let url = "postgresql://\(cluster.superuser)@127.0.0.1:\(cluster.port)/changegate?sslmode=disable"
            let passwordFile = old.dir + "/pg-password"
            try cluster.password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
            chmod(passwordFile, 0o600)
            let migrate = try run(Binaries.changegate, ["migrate", "--database", old.database, "--to", url, "--password-file", passwordFile])
            #expect(migrate.status == 0, "\(migrate.stderr)")
            #expect(migrate.stdout.contains("Copied 2 deployments, \(lines) log lines, \(audits) audit records"), "\(migrate.stdout)")
            #expect(migrate.stdout.contains("Audit chain verified in both: \(audits) records, head \(head.prefix(16))"), "\(migrate.stdout)")
            #expect(!migrate.stdout.contains(cluster.password) && !migrate.stderr.contains(cluster.password))
            // Row for row what the file held, the chain linked as it was, the same instance (so correlation ids match).
            for column in ["state", "outcome", "change_number", "correlation_id", "exit_code", "finished_at"] {
                #expect(try psql("SELECT string_agg(coalesce(\(column)::text, '-'), ',' ORDER BY id) FROM deployments")
                        == (try sqlite("SELECT group_concat(coalesce(\(column), '-'), ',') FROM (SELECT \(column) FROM deployments ORDER BY id)")), "\(column)")
            }
            #expect(try psql("SELECT value FROM meta WHERE key = 'instance_id'") == instance)
            #expect(try psql("SELECT count(*) FROM task_log") == lines)
            #expect(try psql("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1") == head)

            // Into a database that already holds a queue: refused, nothing added.
            let again = try run(Binaries.changegate, ["migrate", "--database", old.database, "--to", url, "--password-file", passwordFile])
            #expect(again.status == 1 && again.stderr.contains("already holds a queue"), "\(again.stderr)")
            #expect(try psql("SELECT count(*) FROM deployments") == "2")

            // A daemon on the new queue: new rows get new ids and run; the old ones stay as they were.
            let d = try DaemonProcess(simulator: sim, projects: Self.projects, postgres: (url, cluster.password))
            try d.start()
            defer { d.stop() }
            try await eventually("the daemon to lead the migrated queue", timeout: .seconds(30)) { d.log.contains("Leading the queue with epoch 1") }
            let next = try #require(Int64(try psql("INSERT INTO deployments (project, environment, release) VALUES ('web', 'Test', '3.0') RETURNING id")))
            #expect(next == 3, "the id sequence moved past the copied rows")
            try await eventually("the new row to finish", timeout: .seconds(30)) { try psql("SELECT state FROM deployments WHERE id = 3") == "succeeded" }
            #expect(try psql("SELECT count(*) FROM audit_log x LEFT JOIN audit_log p ON p.seq = x.seq - 1 WHERE x.seq > 1 AND x.prev_hash IS DISTINCT FROM p.hash") == "0",
                    "the daemon's records continue the migrated chain")
        }
    }

    @Test func aBrokenAuditChainIsRefusedBeforeAnythingIsCopied() async throws {
        let sim = try await SimulatorProcess()
        let old = try DaemonProcess(simulator: sim, projects: Self.projects)
        try await old.startAndWait()
        let plain = try insert(old.database, ["project": "web", "environment": "Test", "release": "1.0"])
        _ = try await old.waitForTerminal(plain)
        old.stop()
        // Someone with the file's owner rights drops the guards and rewrites history.
        let triggers = try sqlite3(old.database, "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'")
        for name in triggers.split(separator: "\n") { _ = try sqlite3(old.database, "DROP TRIGGER \(name)") }
        _ = try sqlite3(old.database, "UPDATE audit_log SET details = '{}' WHERE seq = 1")
        try await PostgresCluster.with { cluster in
            try cluster.createDatabase("changegate")
            let passwordFile = old.dir + "/pg-password"
            try cluster.password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
            chmod(passwordFile, 0o600)
            let url = "postgresql://\(cluster.superuser)@127.0.0.1:\(cluster.port)/changegate?sslmode=disable"
            let r = try run(Binaries.changegate, ["migrate", "--database", old.database, "--to", url, "--password-file", passwordFile])
            #expect(r.status == 1 && r.stderr.contains("audit chain") && r.stderr.contains("broken at record 1") && r.stderr.contains("nothing was copied"), "\(r.stderr)")
            #expect(try cluster.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'deployments'", database: "changegate") == "0", "the target was not touched")
        }
    }
}
