import Logging
import ServiceLifecycle
import Synchronization

/// Proof of progress from the daemon's scheduler loop.
///
/// The loop calls ``beat()`` once per iteration; ``WatchdogService`` pings systemd only while beats keep coming,
/// so a loop that hangs (deadlock, blocked I/O) stops the pings and systemd restarts the service after
/// `WatchdogSec=`. The loop must therefore iterate (or beat while idle) more often than the watchdog interval,
/// e.g. by capping its idle sleep at ``WatchdogService/maximumBeatGap``.
public final class ProgressHeartbeat: Sendable {
    private let now: @Sendable () -> ContinuousClock.Instant
    private let state: Mutex<(last: ContinuousClock.Instant, count: UInt64)>

    /// `now` is injectable for tests; a new heartbeat counts as fresh (start-up is progress).
    public init(now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.now = now
        self.state = Mutex((now(), 0))
    }

    /// Records that the loop made progress.
    public func beat() {
        let instant = now()
        state.withLock { $0 = (instant, $0.count &+ 1) }
    }

    /// When ``beat()`` was last called (or when the heartbeat was created).
    public var lastBeat: ContinuousClock.Instant { state.withLock { $0.last } }

    /// How many times ``beat()`` was called.
    public var beatCount: UInt64 { state.withLock { $0.count } }
}

/// Pings systemd's watchdog (`WATCHDOG=1`) every half `WatchdogSec=`, but only while the ``ProgressHeartbeat``
/// advanced within the watchdog interval: a free-running timer would keep a hung daemon alive forever.
///
/// Without a watchdog (no `WATCHDOG_USEC`) it just waits for graceful shutdown. It stops at graceful shutdown, so
/// list it first in the `ServiceGroup` (services shut down in reverse order) to keep pinging while others drain.
public struct WatchdogService: Service {
    private let heartbeat: ProgressHeartbeat
    private let notifier: SystemdNotifier
    private let logger: Logger
    private let now: @Sendable () -> ContinuousClock.Instant
    private let sleep: @Sendable (Duration) async throws -> Void
    private let progress = PingState()
    /// `MESSAGE_ID=` of the critical entry logged when pings stop (the application's own id), if any.
    private let stalledMessageID: MessageID?

    /// `WatchdogSec=` (from `WATCHDOG_USEC`), or nil when systemd set no watchdog.
    public let watchdogInterval: Duration?
    /// Pings are withheld once the last beat is older than this (defaults to ``watchdogInterval``).
    public let maximumHeartbeatAge: Duration?

    /// Production use: interval from the environment via `notifier.watchdogInterval`. `stalledMessageID` tags the
    /// entry logged when pings are withheld, so the application's journal catalog can explain it.
    public init(heartbeat: ProgressHeartbeat, notifier: SystemdNotifier = SystemdNotifier(), logger: Logger,
                stalledMessageID: MessageID? = nil) {
        self.init(heartbeat: heartbeat, notifier: notifier, watchdogInterval: notifier.watchdogInterval, logger: logger,
                  stalledMessageID: stalledMessageID)
    }

    /// Full control, for tests: explicit interval, staleness limit, time source and sleep.
    public init(
        heartbeat: ProgressHeartbeat,
        notifier: SystemdNotifier,
        watchdogInterval: Duration?,
        maximumHeartbeatAge: Duration? = nil,
        logger: Logger,
        stalledMessageID: MessageID? = nil,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.heartbeat = heartbeat
        self.notifier = notifier
        self.watchdogInterval = watchdogInterval
        self.maximumHeartbeatAge = maximumHeartbeatAge ?? watchdogInterval
        self.logger = logger
        self.stalledMessageID = stalledMessageID
        self.now = now
        self.sleep = sleep
    }

    /// Ping period: half the watchdog interval.
    public var pingInterval: Duration? { watchdogInterval.map { $0 / 2 } }

    /// The longest the scheduler loop may go without ``ProgressHeartbeat/beat()`` before pings stop
    /// (use it to cap idle sleeps, with some margin: half of it is a good cap).
    public var maximumBeatGap: Duration? { maximumHeartbeatAge }

    public func run() async throws {
        guard let pingInterval, pingInterval > .zero else {
            // No watchdog configured: nothing to do, but returning early would end the whole ServiceGroup.
            try? await gracefulShutdown()
            return
        }
        logger.debug("watchdog pings enabled", metadata: ["interval": "\(pingInterval)"])
        await cancelWhenGracefulShutdown {
            do {
                while true {
                    tick()
                    try await sleep(pingInterval)
                }
            } catch {
                // Cancellation (graceful shutdown or group teardown) ends the loop; nothing else throws.
            }
        }
    }

    /// One decision: pings when the heartbeat is fresh; returns whether it pinged.
    @discardableResult
    public func tick() -> Bool {
        tick(at: now())
    }

    /// One decision at `instant` (tests drive this directly with fabricated instants).
    @discardableResult
    public func tick(at instant: ContinuousClock.Instant) -> Bool {
        guard let limit = maximumHeartbeatAge else { return false }
        let age = instant - heartbeat.lastBeat
        let fresh = age <= limit
        let previous = progress.state.withLock { state in
            defer { state = fresh ? .pinging : .withheld }
            return state
        }
        if fresh {
            notifier.watchdogPing()
            if previous == .withheld {
                logger.notice("scheduler loop is making progress again; watchdog pings resumed")
            }
        } else if previous == .pinging {
            var metadata: Logger.Metadata = ["heartbeat_age": "\(age)"]
            if let stalledMessageID { metadata["message_id"] = stalledMessageID.metadataValue }
            logger.critical(
                "scheduler loop made no progress for \(age); withholding watchdog pings so systemd restarts the service",
                metadata: metadata
            )
        }
        return fresh
    }

}

/// Whether the last tick pinged; a class because `Mutex` cannot live in a copyable struct.
private final class PingState: Sendable {
    enum Value { case pinging, withheld }
    let state = Mutex(Value.pinging)
}
