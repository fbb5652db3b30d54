import Foundation
import PostgresQueue
import QueueContract
import QueueStore
import Testing
import TestSupport

/// What only PostgreSQL has: the roles of docs/postgresql.md (run from the page itself)
/// and errors that say what to do.
@Suite(.serialized, .ownThreads) struct PostgresRoleTests {
    /// The ```sql block of docs/postgresql.md whose first line is `-- changegate roles: <which>`.
    static func docsSQL(_ which: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let page = try String(contentsOf: root.appendingPathComponent("docs/postgresql.md"), encoding: .utf8)
        let blocks = page.components(separatedBy: "```sql\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        return try #require(blocks.first { $0.hasPrefix("-- changegate roles: \(which)") }, "docs/postgresql.md has the \(which) block")
    }

    @Test func theDocumentedRolesGiveEachTheRightsTheDocsSay() async throws {
        try await PostgresCluster.with { cluster in
            try cluster.psql(script: try Self.docsSQL("before the first start"), database: "postgres")
            try cluster.psql("ALTER ROLE changegate_daemon PASSWORD 'daemon-pw'", database: "postgres")
            try await PostgresQueueStore.withStore(cluster.endpoint(user: "changegate_daemon", password: "daemon-pw"), logger: testLogger) { store in
                try cluster.psql(script: try Self.docsSQL("after the first start"), database: "changegate")
                func producer(_ sql: String) throws -> String { try cluster.psql(sql, database: "changegate", user: "changegate_producer") }
                func auditor(_ sql: String) throws -> String { try cluster.psql(sql, database: "changegate", user: "changegate_auditor") }
                func refused(_ who: (String) throws -> String, _ sql: String) {
                    let error = #expect(throws: (any Error).self, "\(sql)") { _ = try who(sql) }
                    #expect("\(error.map { "\($0)" } ?? "")".contains("permission denied"), "\(sql): \(error.map { "\($0)" } ?? "")")
                }
                // The producer inserts and reads, and nothing else.
                let id = try #require(Int64(try producer("INSERT INTO deployments (project, environment, release) VALUES ('web', 'Production', '1') RETURNING id")))
                #expect(try producer("SELECT state FROM deployments WHERE id = \(id)") == "queued")
                refused(producer, "UPDATE deployments SET state = 'succeeded' WHERE id = \(id)")
                refused(producer, "UPDATE deployments SET cancel_requested = 1 WHERE id = \(id)")
                refused(producer, "DELETE FROM deployments WHERE id = \(id)")
                refused(producer, "INSERT INTO deployments (project, environment, release, outcome) VALUES ('web', 'Production', '1', 'succeeded')")
                refused(producer, "INSERT INTO task_log (task_id, at, stream, line) VALUES (\(id), 'x', 'event', 'forged')")
                refused(producer, "INSERT INTO audit_log (seq, task_id, at, kind, details, prev_hash, hash) VALUES (1, \(id), 'x', 'k', '{}', 'p', 'h')")
                refused(producer, "CREATE TABLE mine (x int)")
                // The auditor reads everything and writes nothing.
                #expect(try auditor("SELECT count(*) FROM deployments") == "1")
                #expect(try auditor("SELECT count(*) FROM audit_log") == "0")
                refused(auditor, "INSERT INTO deployments (project, environment, release) VALUES ('web', 'Production', '1')")
                refused(auditor, "UPDATE deployments SET cancel_requested = 1")
                // The daemon does its work on the producer's row.
                #expect(try await store.intake(after: 0, limit: 10).rows.map(\.id) == [id])
                try await store.commit([(id, TaskChange(state: .failed, outcome: .invalidRequest, reason: "test"))], at: Date())
                #expect(try auditor("SELECT outcome FROM deployments WHERE id = \(id)") == "invalid_request")
            }
        }
    }

    /// Several daemons started at once on an empty database: one creates the schema, the others wait and find it.
    @Test func daemonsStartingTogetherOnAnEmptyDatabaseAllOpenIt() async throws {
        try await PostgresCluster.with { cluster in
            try cluster.createDatabase("changegate")
            let endpoint = cluster.endpoint()
            try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<4 {
                    group.addTask { try await PostgresQueueStore.withStore(endpoint, logger: testLogger) { try $0.instanceID() } }
                }
                var ids = Set<String>()
                for try await id in group { ids.insert(id) }
                #expect(ids.count == 1, "one schema, one instance id: \(ids)")
            }
            #expect(try cluster.psql("SELECT count(*) FROM schema_migrations", database: "changegate") == "7")
        }
    }

    @Test func aWrongPasswordSaysWhereToLook() async throws {
        try await PostgresCluster.with { cluster in
            try cluster.createDatabase("changegate")
            let error = await #expect(throws: QueueStoreError.self) {
                try await PostgresQueueStore.withStore(cluster.endpoint(password: "wrong"), logger: testLogger) { _ in }
            }
            let text = error.map { "\($0)" } ?? ""
            #expect(text.contains("password authentication failed") && text.contains("database_password_file"), "\(text)")
            #expect(!text.contains("wrong") && !text.contains(cluster.password), "no password in the message: \(text)")
        }
    }

    @Test func aMissingDatabaseSaysToCreateIt() async throws {
        try await PostgresCluster.with { cluster in
            let error = await #expect(throws: QueueStoreError.self) {
                try await PostgresQueueStore.withStore(cluster.endpoint(), logger: testLogger) { _ in }
            }
            #expect((error.map { "\($0)" } ?? "").contains("create the database"))
        }
    }
}
