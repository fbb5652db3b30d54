import ChangegateConfig
@testable import Daemon
import Foundation
import Logging
import QueueContract
import QueueStore
import ServiceLifecycleTestKit
import Synchronization
import Systemd
import Testing

/// The scheduler in this process: a real SQLite queue in a temp folder, an in-memory ServiceNow, a clock the
/// test moves, and real deploy commands. Rows are inserted through the store and the scheduler is told, as the
/// database watcher would tell it.
struct SchedulerHarness: Sendable {
    let directory: String
    let store: QueueStore
    let sim: FakeChangeService
    let clock: ManualClock
    let scheduler: Scheduler
    let kick: AsyncStream<Void>.Continuation
    /// What the scheduler told systemd.
    let notices: Notices

    /// Runs `body` against a started scheduler, then shuts it down gracefully and waits until `run()` returned.
    /// Everything it made is removed, also when the body fails.
    static func with(_ toml: String, clock: ManualClock = ManualClock(), sim: FakeChangeService = FakeChangeService(),
                     prepare: (QueueStore) throws -> Void = { _ in },
                     whileDraining: (SchedulerHarness) async throws -> Void = { _ in },
                     _ body: (SchedulerHarness) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cg-daemon-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configPath = "\(directory)/changegate.toml"
        try ("[daemon]\ndatabase = \"\(directory)/q.db\"\n" + toml).write(toFile: configPath, atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(path: configPath)
        sim.follow(clock)
        let store = try QueueStore(path: config.daemon.database)
        try prepare(store)
        let (changes, kick) = AsyncStream<Void>.makeStream()
        let notices = Notices()
        let notifier = SystemdNotifier(sink: { notices.append($0) })
        let scheduler = try Scheduler(store: store, configuration: config, services: ["sim": sim], heartbeat: ProgressHeartbeat(),
                                      notifier: notifier, logger: testLogger,
                                      clock: clock, databaseChanges: { changes })
        let harness = SchedulerHarness(directory: directory, store: store, sim: sim, clock: clock, scheduler: scheduler, kick: kick, notices: notices)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await scheduler.run() }
                var failure: (any Error)?
                do { try await body(harness) } catch { failure = error }
                trigger.triggerGracefulShutdown()
                if failure == nil {
                    do { try await whileDraining(harness) } catch { failure = error }
                }
                try await group.waitForAll()
                if let failure { throw failure }
            }
        }
    }

    /// Inserts a row as a producer does and tells the scheduler.
    @discardableResult
    func enqueue(_ project: String, _ environment: String = "Production", release: String = "1", changeNumber: String? = nil,
                 notBefore: Date? = nil) throws -> Int64 {
        let id = try store.enqueue(project: project, environment: environment, release: release, changeNumber: changeNumber,
                                   notBefore: notBefore.map(Timestamp.format))
        kick.yield()
        return id
    }

    func row(_ id: Int64) throws -> TaskRecord { try store.task(id) }

    func log(_ id: Int64) throws -> String { try store.log(of: id).map(\.text).joined(separator: "\n") }

    /// Waits (real time, generous for a busy machine) until the row is in one of `states`.
    @discardableResult
    func wait(_ id: Int64, _ states: TaskState..., timeout: Duration = .seconds(30)) async throws -> TaskRecord {
        try await eventually("task \(id) in \(states.map(\.rawValue))", timeout: timeout) {
            states.contains(try row(id).state)
        }
        return try row(id)
    }

    /// Moves the clock and lets the loop see it.
    func advance(by seconds: TimeInterval) { clock.advance(by: seconds) }

    /// Moves the clock one poll interval (1 s) and waits until that poll's read was asked for.
    func pollOnce() async throws {
        let seen = sim.calls.count
        advance(by: 1)
        try await eventually("the next poll") { sim.calls.count > seen }
        try await Task.sleep(for: .milliseconds(50))  // its answer reaches the loop
    }
}

/// Quiet unless CHANGEGATE_TEST_LOG is set (then the scheduler's log goes to stderr).
let testLogger: Logger = {
    guard ProcessInfo.processInfo.environment["CHANGEGATE_TEST_LOG"] != nil else {
        return Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    }
    var logger = Logger(label: "test", factory: { StreamLogHandler.standardError(label: $0) })
    logger.logLevel = .debug
    return logger
}()

final class Notices: Sendable {
    private let sent = Mutex<[String]>([])
    func append(_ s: String) { sent.withLock { $0.append(s) } }
    var all: [String] { sent.withLock { $0 } }
}

struct Timeout: Error, CustomStringConvertible { var description: String }

func eventually(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw Timeout(description: "timed out after \(timeout) waiting for \(what)")
}

/// A project on the fake connection `sim`.
func project(_ name: String, command: String, controlled: Bool = true, extra: String = "") -> String {
    """
    [projects.\(name)]
    change_controlled = \(controlled)
    connection = "sim"
    command = ["/bin/sh", "-c", "\(command)"]
    kill_grace = "1s"
    \(extra)

    """
}

let environments = """
    [environments.Production]
    change_controlled = true
    [environments.Staging]
    change_controlled = false

    """

/// A connection block for the config; the scheduler under test gets the fake service instead of a client.
let simConnection = """
    [servicenow.sim]
    url = "http://127.0.0.1:9"
    auth = "basic"
    username = "u"
    password_file = "/nonexistent"

    """
