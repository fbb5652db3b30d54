#if os(Linux)
import TestSupport
import Foundation
import Glibc
import GRDB
import Synchronization
import Testing
@testable import QueueStore

/// Makes a temporary directory for one test and removes it afterwards, whether the test passed or not.
private func withTempDir(_ body: (String) async throws -> Void) async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cg-watch-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try await body(dir)
}

private struct CLIFailed: Error, CustomStringConvertible {
    let description: String
}

/// Runs the real sqlite3 CLI, as producers do, without blocking a concurrency thread while it runs.
@discardableResult
private func sqlite3(_ db: String, _ sql: String) async throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    p.arguments = ["-cmd", ".timeout 10000", db, sql]
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
        p.terminationHandler = { _ in done.resume() }
        do { try p.run() } catch { done.resume(throwing: error) }
    }
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    guard p.terminationStatus == 0 else { throw CLIFailed(description: "sqlite3 \(sql): \(output)") }
    return output
}

private let insert = "INSERT INTO deployments (project, environment, release) VALUES ('a','b','c');"

/// What the consumer saw: how many changes, and the highest row id its query found after the last one.
/// It queries as the daemon would, on a connection opened for the query only (so none stays open).
private final class Seen: Sendable {
    private let state = Mutex((changes: 0, maxID: Int64(-1)))

    func record(_ path: String) {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        let id = (try? DatabaseQueue(path: path, configuration: config).read { db in
            try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM deployments")
        }) ?? -1
        state.withLock { $0.changes += 1; $0.maxID = max($0.maxID, id) }
    }

    var changes: Int { state.withLock { $0.changes } }

    func wait(until condition: @Sendable ((changes: Int, maxID: Int64)) -> Bool) async -> Bool {
        await eventually { self.state.withLock { condition($0) } }
    }
}

/// Consumes the watcher's changes in a child task for the duration of `body`, which waits on what it saw.
private func observing(_ watcher: DatabaseWatcher, _ body: (Seen) async throws -> Void) async throws {
    let seen = Seen()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            for await _ in watcher.changes() { seen.record(watcher.path) }
        }
        defer { group.cancelAll() }
        // The first check's yield, recorded after its query: from here on, a higher id means a later yield.
        try #require(await seen.wait { $0.changes >= 1 })
        try await body(seen)
    }
}

/// Long enough that the safety check (10 × this) cannot be what notices a change within the 10 s waits.
private let inotifyOnly = Duration.seconds(60)

@Suite(.ownThreads) struct DatabaseWatcherTests {
    @Test func noticesAnInsertFromTheSQLiteCLIAndNothingWhenNothingWasCommitted() async throws {
        try await withTempDir { dir in
            let path = "\(dir)/changegate.db"
            let store = try QueueStore(path: path)
            let watcher = try DatabaseWatcher(path: path, fallbackInterval: inotifyOnly)
            #expect(watcher.mode == .inotify && watcher.pollingReason == nil)
            try await observing(watcher) { seen in
                // A reader opens and closes the -wal, which inotify reports, but data_version does not move.
                #expect(try await sqlite3(path, "SELECT count(*) FROM deployments;") == "0\n")
                try await Task.sleep(for: .seconds(1))
                #expect(seen.changes == 1, "no change was committed, so nothing beyond the first check is yielded")
                try await sqlite3(path, insert)
                #expect(await seen.wait { $0.maxID >= 1 }, "the insert was noticed")
            }
            _ = store
        }
    }

    @Test func aBurstYieldsAndTheStreamKeepsWorking() async throws {
        try await withTempDir { dir in
            let path = "\(dir)/changegate.db"
            let store = try QueueStore(path: path)
            let watcher = try DatabaseWatcher(path: path, fallbackInterval: inotifyOnly)
            try await observing(watcher) { seen in
                // 50 statements in autocommit mode: 50 commits in a row.
                try await sqlite3(path, String(repeating: insert, count: 50))
                #expect(await seen.wait { $0.maxID >= 50 }, "the burst was noticed")
                try await sqlite3(path, insert)
                #expect(await seen.wait { $0.maxID >= 51 }, "an insert after the burst is noticed too")
            }
            _ = store
        }
    }

    /// Given the daemon's store, its own commits wake nobody (each would cost the loop a step and a read at full
    /// speed), while a producer's commit right after one of them is still noticed.
    @Test func theStoresOwnCommitsAreIgnoredAndAProducersAreNot() async throws {
        try await withTempDir { dir in
            let path = "\(dir)/changegate.db"
            let store = try QueueStore(path: path)
            let id = try store.enqueue(project: "web", environment: "Test", release: "1")
            let watcher = try DatabaseWatcher(path: path, fallbackInterval: inotifyOnly, ignoringCommitsOf: store)
            try await observing(watcher) { seen in
                for n in 0..<20 {
                    try await store.commit([(id, TaskChange(events: ["own write \(n)"]))])
                }
                try await Task.sleep(for: .seconds(1))
                #expect(seen.changes == 1, "the store's own 20 commits yielded nothing beyond the first check")
                try await store.commit([(id, TaskChange(events: ["own write just before"]))])
                try await sqlite3(path, insert)
                #expect(await seen.wait { $0.maxID >= id + 1 }, "the producer's insert was noticed")
            }
        }
    }

    /// A connection that stays open (a producer service, or the daemon's own writer) never closes the -wal, so
    /// the write events are all there is; they can come before the commit is visible (the watcher re-checks).
    @Test func noticesEachCommitOfALongLivedConnection() async throws {
        try await withTempDir { dir in
            let path = "\(dir)/changegate.db"
            let store = try QueueStore(path: path)
            let watcher = try DatabaseWatcher(path: path, fallbackInterval: inotifyOnly)
            var config = Configuration()
            config.busyMode = .timeout(10)
            let producer = try DatabaseQueue(path: path, configuration: config)
            try await observing(watcher) { seen in
                for id in Int64(1)...30 {
                    try await producer.write { try $0.execute(sql: insert) }
                    #expect(await seen.wait { $0.maxID >= id }, "commit \(id) was noticed")
                }
            }
            _ = store
        }
    }

    @Test func noticesInsertsAfterTheWALIsCheckpointedAndTheOtherConnectionsClose() async throws {
        try await withTempDir { dir in
            let path = "\(dir)/changegate.db"
            var store: QueueStore? = try QueueStore(path: path)
            let watcher = try DatabaseWatcher(path: path, fallbackInterval: inotifyOnly)
            try await observing(watcher) { seen in
                try await sqlite3(path, insert)
                #expect(await seen.wait { $0.maxID >= 1 })
                #expect(try await sqlite3(path, "PRAGMA wal_checkpoint(TRUNCATE);") == "0|0|0\n")
                let walSize = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int
                #expect(walSize == 0, "the checkpoint truncated the -wal")
                store = nil  // closes the daemon's pool: only the watcher's own connection is left
                try await sqlite3(path, insert)
                #expect(await seen.wait { $0.maxID >= 2 }, "the insert after the checkpoint was noticed")
            }
            _ = store
        }
    }

    @Test func pollingNoticesAnInsertAndYieldsNothingWhileIdle() async throws {
        try await withTempDir { dir in
            let path = "\(dir)/changegate.db"
            let store = try QueueStore(path: path)
            let watcher = try DatabaseWatcher(path: path, fallbackInterval: .milliseconds(50), forcePolling: true)
            #expect(watcher.mode == .polling && watcher.pollingReason != nil)
            try await observing(watcher) { seen in
                try await Task.sleep(for: .seconds(1))  // some 20 checks
                #expect(seen.changes == 1, "data_version did not move, so nothing beyond the first check is yielded")
                try await sqlite3(path, insert)
                #expect(await seen.wait { $0.maxID >= 1 }, "the insert was noticed")
            }
            _ = store
        }
    }

    @Test func cancellingTheConsumerEndsTheStreamAndItsThread() async throws {
        try await withTempDir { dir in
            let path = "\(dir)/changegate.db"
            let store = try QueueStore(path: path)
            let watcher = try DatabaseWatcher(path: path, fallbackInterval: inotifyOnly)
            let (first, ended) = (Flag(), Flag())
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in watcher.changes() { first.set() }
                    ended.set()
                }
                // After the first check's yield the thread waits in poll(2), where only the stream's end wakes it.
                #expect(await eventually { first.isSet })
                #expect(watcher.runningThreads == 1)
                group.cancelAll()
                #expect(await eventually { ended.isSet }, "the stream finished")
            }
            #expect(await eventually { watcher.runningThreads == 0 }, "the watcher's thread ended")
            // The inotify watch was given back: a new consumer is told of an insert within the wait.
            try await observing(watcher) { seen in
                try await sqlite3(path, insert)
                #expect(await seen.wait { $0.maxID >= 1 })
            }
            _ = store
        }
    }

    @Test func aMissingDatabaseIsAnOpenError() async throws {
        try await withTempDir { dir in
            let error = #expect(throws: QueueStoreError.self) {
                try DatabaseWatcher(path: "\(dir)/missing/changegate.db")
            }
            guard case .open(let path, _) = error else {
                Issue.record("expected QueueStoreError.open, got \(String(describing: error))")
                return
            }
            #expect(path == "\(dir)/missing/changegate.db")
        }
    }

    /// The -wal can be missing or replaced; the watch follows the directory to the new file. Plain files stand
    /// in for SQLite here, because SQLite keeps the -wal while the watcher's own connection is open.
    @Test func theWALWatchFollowsACreatedAndAReplacedFile() async throws {
        try await withTempDir { dir in
            let wal = "\(dir)/changegate.db-wal"
            var watch = try WALFileWatch(walPath: wal)
            defer { watch.close() }
            #expect(watch.fileWatch == -1, "no -wal yet: only the directory is watched")
            #expect(FileManager.default.createFile(atPath: wal, contents: nil))
            #expect(readable(watch.fd) && watch.drain(), "a new -wal counts as a change")
            #expect(watch.fileWatch >= 0)
            try append(wal)
            #expect(readable(watch.fd) && watch.drain(), "a write to the -wal is a change")

            #expect(FileManager.default.createFile(atPath: "\(dir)/other", contents: nil))
            #expect(readable(watch.fd) && !watch.drain(), "other files in the directory are no change")

            #expect(FileManager.default.createFile(atPath: "\(dir)/new-wal", contents: nil))
            #expect(rename("\(dir)/new-wal", wal) == 0)  // replaces the -wal with another file
            _ = readable(watch.fd) && watch.drain()
            #expect(!readable(watch.fd, milliseconds: 0), "every event so far was read")
            try append(wal)
            #expect(readable(watch.fd) && watch.drain(), "a write to the replacing -wal is a change")
        }
    }
}

private func append(_ path: String) throws {
    let handle = try #require(FileHandle(forWritingAtPath: path))
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: Data("frame".utf8))
}

/// Whether `fd` becomes readable within the (generous) wait.
private func readable(_ fd: Int32, milliseconds: Int32 = 10_000) -> Bool {
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    return poll(&p, 1, milliseconds) == 1
}

private final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// Waits generously (the machine may be busy) for `condition`; says whether it came true.
private func eventually(_ condition: @Sendable () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
#endif
