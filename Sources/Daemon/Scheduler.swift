import ChangegateConfig
import ChangegateMetrics
import Foundation
import Logging
import QueueContract
import QueueStore
import ServiceLifecycle
import StateMachine
import Synchronization
import Systemd

/// The scheduler: one loop that takes queue rows through the state machine.
///
/// The loop sleeps until something happens — a result of its child tasks, a database change a producer made,
/// or the earliest deadline (a window end, a timeout, a poll) — then decides what arrived with
/// `StateMachine.decide`, writes the decisions in one transaction, and only then starts the effects they ask
/// for. Slow work (ServiceNow calls, deploy commands) runs in child tasks of the loop's task group and reports
/// back through the `Inbox`, so a slow instance never stalls intake and the watchdog sees the loop's progress.
public final class Scheduler: Service, Sendable {
    /// The queue, on whichever backend the config names (SQLite or PostgreSQL).
    let store: any QueueStorage
    let configuration: Mutex<ChangegateConfiguration>
    let services: [String: any ChangeService]
    let heartbeat: ProgressHeartbeat
    let notifier: SystemdNotifier
    let logger: Logger
    let clock: any SchedulerClock
    let instanceID: String
    let inbox = Inbox()
    let output: OutputBuffer
    let shutdown = Mutex(false)
    let daemonEnvironment: [String: String]
    /// How new rows are noticed: a watcher of the database file, and a slow poll beside it.
    let databaseChanges: @Sendable () -> AsyncStream<Void>
    let metrics: DaemonMetrics?
    /// Configuration items by connection and configured name, resolved once.
    let ciCache = ConfigurationItemCache()

    public init(store: any QueueStorage, configuration: ChangegateConfiguration, services: [String: any ChangeService],
                heartbeat: ProgressHeartbeat, notifier: SystemdNotifier, logger: Logger,
                clock: any SchedulerClock = SystemClock(),
                databaseChanges: @escaping @Sendable () -> AsyncStream<Void>, metrics: DaemonMetrics? = nil,
                daemonEnvironment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.store = store
        self.configuration = Mutex(configuration)
        self.services = services
        self.heartbeat = heartbeat
        self.notifier = notifier
        self.logger = logger
        self.clock = clock
        self.instanceID = try store.instanceID()
        self.daemonEnvironment = daemonEnvironment
        self.databaseChanges = databaseChanges
        self.metrics = metrics
        self.output = OutputBuffer(inbox: inbox)
    }

    var config: ChangegateConfiguration { configuration.withLock { $0 } }

    /// Swaps in a reloaded configuration (SIGHUP). Tasks already running keep the settings they started with.
    public func reload(_ new: ChangegateConfiguration) {
        configuration.withLock { $0 = new }
        inbox.post(.databaseChanged)  // look at the queue with the new projects
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                let changes = databaseChanges()
                let inbox = self.inbox
                group.addTask {
                    for await _ in changes { inbox.post(.databaseChanged) }
                }
                var loop = LoopState()
                try? await store.clearDaemonNotes()  // an earlier run's notes say nothing of this one
                await recover(&loop, group: &group)
                loop.lastStatus = statusLine(loop)
                _ = notifier.ready(status: loop.lastStatus)
                logger.notice("changegate is ready", metadata: ["message_id": MessageID.daemonStarted.metadataValue,
                                                                 "database": .string(store.path)])
                while true {
                    if shutdown.withLock({ $0 }), !loop.draining { startDrain(&loop) }
                    if loop.draining {
                        if !loop.hasWorkInFlight { break }
                        drainStep(&loop)
                    }
                    await hangIfTestTriggerExists()
                    heartbeat.beat()
                    await step(&loop, group: &group)
                    if loop.draining && !loop.hasWorkInFlight { continue }  // done: leave without waiting
                    await inbox.wait(until: nextWake(loop), clock: clock)
                }
                await flushOutput(loop)
                group.cancelAll()  // the database watcher
            }
        } onGracefulShutdown: {
            self.shutdown.withLock { $0 = true }
            self.inbox.post(.wake)
        }
        logger.notice("changegate stopped")
    }

    /// The earliest time the loop must look again without being told: a deadline, a poll, or the idle cap.
    func nextWake(_ loop: LoopState) -> Date {
        let now = clock.now()
        if !loop.followUps.isEmpty || loop.intakeNow { return now }
        var wake = now.addingTimeInterval(idleCap.seconds)
        if let d = loop.deadlines.next { wake = min(wake, d) }
        if let p = loop.nextPollDue { wake = min(wake, p) }
        if let r = loop.storageRetryAt { wake = min(wake, r) }
        if loop.draining { wake = min(wake, now.addingTimeInterval(1)) }
        return wake
    }

    func startDrain(_ loop: inout LoopState) {
        loop.draining = true
        loop.slots.granting = false
        for armed in loop.armed.values { disarm(armed) }  // nothing new starts while stopping
        loop.drainStarted = clock.now()
        _ = notifier.stopping(status: "stopping: draining \(loop.count(.executing)) running deployment(s)")
        logger.notice("Stopping: draining running deployments", metadata: ["message_id": MessageID.daemonStopping.metadataValue])
    }

    /// While draining: extend systemd's stop timeout; past the drain timeout the state machine stops what runs.
    func drainStep(_ loop: inout LoopState) {
        let now = clock.now()
        if let started = loop.drainStarted, now.timeIntervalSince(started) > config.daemon.drainTimeout.seconds, !loop.drainTimedOut {
            loop.drainTimedOut = true
            for (id, task) in loop.tasks where task.state == .executing { loop.followUps.append((id, .drainTimedOut)) }
        }
        if loop.lastExtend.map({ now.timeIntervalSince($0) > 5 }) ?? true {
            loop.lastExtend = now
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
        return (loop.draining ? "stopping: " : "") + "\(waiting) awaiting approval, \(loop.count(.executing)) executing, "
            + "\(loop.count(.creatingChange)) creating change, \(loop.count(.queued) + loop.notBeforeIDs.count) queued"
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
