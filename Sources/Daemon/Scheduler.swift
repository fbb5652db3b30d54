import ChangegateConfig
import Foundation
import Logging
import QueueStore
import ServiceLifecycle
import ServiceNowModel
import QueueContract
import StateMachine
import Synchronization
import Systemd

/// The scheduler: one loop that takes queue rows through the state machine.
///
/// Each pass drains the results of child tasks, takes new rows and cancel requests, decides every transition with
/// the pure `StateMachine`, writes them in one transaction, and only then starts the effects they call for.
/// Slow work (ServiceNow calls, deploy commands) runs in child tasks of the loop's task group and reports back
/// through the `Inbox`, so a slow instance never stalls intake and the watchdog sees the loop's real progress.
public final class Scheduler: Service, Sendable {
    let store: QueueStore
    let configuration: Mutex<ChangegateConfiguration>
    let connections: Connections
    let heartbeat: ProgressHeartbeat
    let notifier: SystemdNotifier
    let logger: Logger
    let instanceID: String
    let inbox = Inbox()
    let output = OutputBuffer()
    let shutdown = Mutex(false)
    let daemonEnvironment: [String: String]

    public init(store: QueueStore, configuration: ChangegateConfiguration, connections: Connections,
                heartbeat: ProgressHeartbeat, notifier: SystemdNotifier, logger: Logger,
                daemonEnvironment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.store = store
        self.configuration = Mutex(configuration)
        self.connections = connections
        self.heartbeat = heartbeat
        self.notifier = notifier
        self.logger = logger
        self.instanceID = try store.instanceID()
        self.daemonEnvironment = daemonEnvironment
    }

    var config: ChangegateConfiguration { configuration.withLock { $0 } }

    /// Swaps in a reloaded configuration (SIGHUP). Tasks already running keep the settings they started with.
    public func reload(_ new: ChangegateConfiguration) {
        configuration.withLock { $0 = new }
    }

    public func run() async throws {
        var loop = LoopState()
        try await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                recover(&loop)
                loop.lastStatus = statusLine(loop)
                _ = notifier.ready(status: loop.lastStatus)
                logger.notice("changegate is ready", metadata: ["message_id": MessageID.daemonStarted.metadataValue,
                                                                 "database": .string(store.path)])
                var drainStarted: ContinuousClock.Instant?
                while true {
                    let stopping = shutdown.withLock { $0 }
                    if stopping, drainStarted == nil {
                        drainStarted = .now
                        loop.draining = true
                        _ = notifier.stopping(status: "stopping: draining \(loop.count(.executing)) running deployment(s)")
                        logger.notice("Stopping: draining running deployments", metadata: ["message_id": MessageID.daemonStopping.metadataValue])
                    }
                    if let started = drainStarted {
                        if !loop.hasWorkInFlight { break }
                        drainStep(&loop, since: started)
                    }
                    await hangIfTestTriggerExists()
                    heartbeat.beat()
                    let busy = pass(&loop, group: &group)
                    // Work begets work: after a busy pass look again at once; when idle, wait the intake interval,
                    // but beat well within WatchdogSec= whatever intake_interval says.
                    try? await Task.sleep(for: busy ? .milliseconds(1) : min(config.daemon.intakeInterval, idleCap))
                }
                flushOutput(loop.tasks)
            }
        } onGracefulShutdown: {
            self.shutdown.withLock { $0 = true }
        }
        logger.notice("changegate stopped")
    }

    /// While draining: extend systemd's stop timeout; past the drain timeout stop what still runs.
    func drainStep(_ loop: inout LoopState, since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        if elapsed > config.daemon.drainTimeout {
            for (id, task) in loop.tasks where task.state == .executing && task.stop?.isFired == false {
                loop.tasks[id]?.abort = .shutdownInterrupted
                task.stop?.fire()
            }
        }
        if loop.lastExtend.map({ ContinuousClock.now - $0 > .seconds(5) }) ?? true {
            loop.lastExtend = .now
            _ = notifier.extendTimeout(.seconds(30))
        }
    }

    /// Test-only (documented): while `daemon.test_hang_file` exists the loop stops making progress,
    /// so the watchdog pings stop and systemd restarts the service.
    func hangIfTestTriggerExists() async {
        guard let file = config.daemon.testHangFile else { return }
        while FileManager.default.fileExists(atPath: file) {
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Longest idle sleep: a quarter of `WatchdogSec=`, so the heartbeat stays fresh while idle.
    var idleCap: Duration { notifier.watchdogInterval.map { $0 / 4 } ?? .seconds(60) }

    func statusLine(_ loop: LoopState) -> String {
        let waiting = loop.count(.awaitingApproval) + loop.count(.implementCheck)
        return (loop.draining ? "stopping: " : "") + "\(waiting) awaiting approval, \(loop.count(.executing)) executing, \(loop.count(.creatingChange)) creating change, \(loop.queuedBacklog) queued"
    }
}

/// The loop's own state; only the loop touches it.
struct LoopState {
    var tasks: [Int64: ActiveTask] = [:]
    /// Effects of the last committed pass, started after the write.
    var pendingEffects: [(Int64, Effect)] = []
    var pollsInFlight: Set<String> = []
    var nextPoll: [String: Date] = [:]
    var queuedBacklog = 0
    var draining = false
    var lastStatus = ""
    var lastExtend: ContinuousClock.Instant?
    var lastStorageError: Date?
    var lastIntegrationError: [String: (String, Date)] = [:]

    func count(_ state: TaskState) -> Int { tasks.values.reduce(0) { $0 + ($1.state == state ? 1 : 0) } }

    var hasWorkInFlight: Bool { tasks.values.contains { $0.state == .executing || $0.busy || $0.state == .completing } }

    func running(slot: String) -> Int {
        tasks.values.reduce(0) { $0 + ($1.state == .executing && $1.slotKey == slot ? 1 : 0) }
    }
}
