import AuditTrail
import Foundation
import GRDB
import QueueContract
import Testing
@testable import QueueStore

/// A class: Swift Testing makes one instance per test and releases it when the test ends, passed or failed,
/// so `deinit` removes the test's folder.
@Suite final class AuditStoreTests {
    private let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cg-audit-\(UUID().uuidString)").path

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func store() throws -> QueueStore {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return try QueueStore(path: "\(dir)/changegate.db")
    }

    @Test func applyAppendsChainedRecordsWithTheTaskChange() throws {
        let store = try self.store()
        let a = try store.enqueue(project: "web", environment: "Production", release: "1")
        let b = try store.enqueue(project: "api", environment: "Test", release: "2")
        try store.apply([
            (a, TaskChange(state: .creatingChange, audit: [AuditEvent("enqueued", ["requested_by": "alice"])])),
            (b, TaskChange(state: .executing, audit: [AuditEvent("enqueued", [:]), AuditEvent("execution_started", ["pid": 42])])),
        ])
        try store.apply(TaskChange(state: .awaitingApproval, audit: [AuditEvent("change_linked", ["link": "created_normal"])]), to: a)
        let records = try store.auditRecords()
        #expect(records.map(\.seq) == [1, 2, 3, 4])
        #expect(records.map(\.taskID) == [a, b, b, a])
        #expect(records.map(\.kind) == ["enqueued", "enqueued", "execution_started", "change_linked"])
        #expect(records[0].details == #"{"requested_by":"alice"}"#)
        #expect(records[0].prevHash == AuditHead.genesis.hash)
        #expect(AuditChain.verify(records) == nil)
        #expect(try store.auditRecords(ofTask: a).map(\.seq) == [1, 4])
        let (count, head, failure) = try store.verifyAuditChain(pageSize: 3)
        #expect(count == 4 && failure == nil && head == AuditHead(seq: 4, hash: records[3].hash))
    }

    @Test func adjacentChangesOfOneTaskAreWrittenAsOneAndKeepTheirOrder() throws {
        let store = try self.store()
        let a = try store.enqueue(project: "web", environment: "Production", release: "1")
        let b = try store.enqueue(project: "api", environment: "Test", release: "2")
        let changes: [(Int64, TaskChange)] = [
            (a, TaskChange(state: .completing, exitCode: 0, events: ["exited 0"], audit: [AuditEvent("execution_ended", [:])])),
            (a, TaskChange(state: .succeeded, outcome: .succeeded, events: ["succeeded"], audit: [AuditEvent("completed", [:])])),
            (b, TaskChange(state: .executing, childPID: 42, events: ["started"], audit: [AuditEvent("execution_started", [:])])),
            (a, TaskChange(reason: "late", events: ["noted"])),
        ]
        #expect(TaskChange.coalesced(changes).map(\.0) == [a, b, a], "only neighbours are joined")
        try store.apply(changes)
        let rowA = try store.task(a), rowB = try store.task(b)
        #expect(rowA.state == .succeeded && rowA.outcome == .succeeded && rowA.exitCode == 0 && rowA.reason == "late")
        #expect(rowB.state == .executing && rowB.childPID == 42)
        #expect(try store.log(of: a).map(\.text) == ["exited 0", "succeeded", "noted"])
        let records = try store.auditRecords()
        #expect(records.map(\.kind) == ["execution_ended", "completed", "execution_started"])
        #expect(records.map(\.taskID) == [a, a, b])
        #expect(AuditChain.verify(records) == nil)
    }

    @Test func aFailedTransactionLeavesNoAuditRecord() throws {
        let store = try self.store()
        let a = try store.enqueue(project: "web", environment: "Production", release: "1")
        try store.pool.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse BEFORE UPDATE OF state ON deployments WHEN NEW.state = 'executing' BEGIN SELECT RAISE(ABORT, 'no'); END")
        }
        #expect(throws: QueueStoreError.self) {
            try store.apply([(a, TaskChange(audit: [AuditEvent("enqueued")])), (a, TaskChange(state: .executing))])
        }
        #expect(try store.auditRecords().isEmpty, "the record went with the failed task update")
        try store.apply(TaskChange(state: .creatingChange, audit: [AuditEvent("enqueued")]), to: a)
        #expect(try store.auditRecords().map(\.seq) == [1])
    }

    @Test func triggersRefuseChangesAndUnchainedInserts() throws {
        let store = try self.store()
        let a = try store.enqueue(project: "web", environment: "Production", release: "1")
        try store.apply(TaskChange(audit: [AuditEvent("enqueued"), AuditEvent("failed")]), to: a)
        for sql in ["UPDATE audit_log SET kind = 'x' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 2",
                    "INSERT INTO audit_log (task_id, at, kind, details, prev_hash, hash) VALUES (1, 'x', 'x', '{}', 'x', 'x')",
                    "INSERT INTO audit_log (seq, task_id, at, kind, details, prev_hash, hash) VALUES (3, 1, 'x', 'x', '{}', 'wrong', 'x')"] {
            #expect(throws: (any Error).self, "\(sql)") { try store.pool.write { try $0.execute(sql: sql) } }
        }
        #expect(try store.verifyAuditChain().count == 2)
    }

    @Test func theMigrationAddsTheTableToAnExistingDatabase() throws {
        let store = try self.store()
        #expect(QueueStore.schemaVersion == "v5")
        #expect(try store.isSchemaCurrent())
        let tables = try store.pool.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log' ORDER BY name") }
        #expect(tables == ["audit_log_chained", "audit_log_no_delete", "audit_log_no_update"])
    }
}
