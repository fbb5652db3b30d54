import Foundation
import GRDB
import QueueContract
import Testing
import TestSupport
@testable import QueueStore

/// Runs the real sqlite3 CLI, as producers do.
@discardableResult
private func sqlite3(_ db: String, _ sql: String) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    p.arguments = ["-cmd", ".timeout 5000", db, sql]
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
}

/// A class: Swift Testing makes one instance per test and releases it when the test ends, passed or failed,
/// so `deinit` removes the test's folder.
@Suite(.ownThreads) final class QueueStoreTests {
    private let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cg-store-\(UUID().uuidString)").path

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    private func tempDB() throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return "\(dir)/changegate.db"
    }

    @Test func createsAWALDatabaseProducersCanInsertInto() async throws {
        let path = try tempDB()
        let store = try QueueStore(path: path)
        #expect(try store.journalMode() == "wal")
        let r = try sqlite3(path, "INSERT INTO deployments (project, environment, release) VALUES ('web-shop', 'Production', '2.4.1');")
        #expect(r.status == 0, "\(r.output)")
        let queued = try await store.intake(after: 0, limit: 500).rows
        #expect(queued.count == 1)
        #expect(queued[0].raw.project == .text("web-shop"))
        #expect(queued[0].state == .queued && !queued[0].cancelRequested)
        #expect(queued[0].createdAt != nil)
    }

    @Test func producersCannotInsertAStateOrOutcome() throws {
        let path = try tempDB()
        _ = try QueueStore(path: path)
        let r = try sqlite3(path, "INSERT INTO deployments (project, environment, release, state) VALUES ('a','b','c','executing');")
        #expect(r.status != 0)
        #expect(r.output.contains("state and outcome are set by the daemon"))
    }

    @Test func idempotencyKeyIsUniqueAmongUnfinishedRows() throws {
        let path = try tempDB()
        let store = try QueueStore(path: path)
        let id = try store.enqueue(project: "p", environment: "e", release: "1", idempotencyKey: "build-42")
        #expect(throws: QueueStoreError.self) { try store.enqueue(project: "p", environment: "e", release: "1", idempotencyKey: "build-42") }
        let cli = try sqlite3(path, "INSERT INTO deployments (project, environment, release, idempotency_key) VALUES ('p','e','1','build-42');")
        #expect(cli.status != 0 && cli.output.contains("UNIQUE"))
        try store.apply(TaskChange(state: .succeeded, outcome: .succeeded), to: id)
        _ = try store.enqueue(project: "p", environment: "e", release: "1", idempotencyKey: "build-42")
    }

    @Test func wronglyTypedColumnsAreReadAsRawValues() async throws {
        let path = try tempDB()
        let store = try QueueStore(path: path)
        try sqlite3(path, "INSERT INTO deployments (project, environment, release, variables) VALUES (42, NULL, X'FFFE', 3.5);")
        let row = try #require(try await store.intake(after: 0, limit: 500).rows.first)
        // TEXT affinity stores numbers as their text; only blobs keep a type of their own.
        #expect(row.raw.project == .text("42"))
        #expect(row.raw.environment == .null)
        #expect(row.raw.release == .notText("2 bytes that are not UTF-8 text"))
        #expect(row.raw.variables == .text("3.5"))
    }

    @Test func applyWritesStateAndLogAtomically() async throws {
        let store = try QueueStore(path: try tempDB())
        let id = try store.enqueue(project: "p", environment: "e", release: "1")
        try store.apply(TaskChange(state: .creatingChange, changeNumber: "CHG0030001", events: ["linked"]), to: id)
        try store.appendLog([LogLine(taskID: id, at: Date(), stream: .stdout, text: "hello")])
        let t = try store.task(id)
        #expect(t.state == .creatingChange && t.changeNumber == "CHG0030001")
        #expect(try store.log(of: id).map(\.text) == ["linked", "hello"])
        #expect(try await store.unfinished().map(\.id) == [id])
        #expect(try store.countsByState() == [.creatingChange: 1])
    }

    @Test func cancelIsRequestedThroughTheColumn() async throws {
        let store = try QueueStore(path: try tempDB())
        let id = try store.enqueue(project: "p", environment: "e", release: "1")
        #expect(try store.requestCancel(id))
        #expect(try await store.intake(after: 0, limit: 0).cancels == [id])
        try store.apply(TaskChange(state: .cancelled), to: id)
        #expect(try store.requestCancel(id) == false)
        #expect(throws: QueueStoreError.self) { try store.requestCancel(999) }
    }

    @Test func migratesADatabaseOfAnOlderSchemaKeepingItsRows() async throws {
        let path = try tempDB()
        do {
            let old = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(old, upTo: "v1")
            try await old.write { db in
                try db.execute(sql: "INSERT INTO deployments (project, environment, release) VALUES ('web-shop','Production','1.0')")
            }
        }
        #expect(throws: QueueStoreError.self) { try QueueStore(path: path, readOnly: true) }
        let store = try QueueStore(path: path)
        #expect(try store.isSchemaCurrent())
        let row = try #require(try await store.intake(after: 0, limit: 500).rows.first)
        #expect(row.raw.release == .text("1.0") && row.childPID == nil)
        try store.recordIntegrationError(connection: "default", taskID: row.id, message: "boom")
        #expect(try store.recentIntegrationErrors().first?.message == "boom")
    }

    @Test func aSecondInstanceLockFailsWithThePid() throws {
        let path = try tempDB()
        let lock = try InstanceLock(databasePath: path)
        #expect {
            _ = try InstanceLock(databasePath: path)
        } throws: { e in
            "\(e)".contains("pid \(getpid())")
        }
        withExtendedLifetime(lock) {}
    }
}
