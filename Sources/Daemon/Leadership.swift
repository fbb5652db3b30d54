import Executor
import Foundation
import Logging
import PostgresQueue
import QueueStore
import ServiceLifecycle
import Synchronization
import Systemd

/// Several daemons on one PostgreSQL queue, one leader at a time. A daemon waits as a standby (config loaded,
/// pool warm, watchdog fed) until the lease is free or has run out, takes it with the next epoch, and only then
/// runs the scheduler. While it leads it renews the lease every quarter of it; every write carries the epoch
/// (`LeaseFence`). A leader that cannot renew stops starting work, stops its own deploy commands (TERM, then
/// KILL) before the lease can run out on the server, and exits so that systemd starts it again as a standby.
/// The next leader's recovery therefore finds the old leader's `executing` rows only after those were stopped.
struct Leadership: Sendable {
    let store: PostgresQueueStore
    let me: DaemonIdentity
    let lease: Duration
    let notifier: SystemdNotifier
    let heartbeat: ProgressHeartbeat
    let logger: Logger

    /// Exit status of a daemon that lost its lease (systemd's `Restart=` brings it back as a standby).
    static let lostLeaseExitCode: Int32 = 8

    var renewEvery: Duration { lease / 4 }
    var standbyPoll: Duration { min(.seconds(1), lease / 4) }
    /// After the last renewal sent at t, writes and new deploys stop at t + stopAt, and deploys still running
    /// are killed at t + killAt: both before t + lease, the earliest the server can let the lease run out.
    var stopAt: Duration { lease * 6 / 10 }
    var killAt: Duration { lease * 9 / 10 }

    struct Term: Sendable {
        let epoch: Int64
        let previous: LeaseHolder
        let renewedAt: ContinuousClock.Instant
    }

    /// Standby until this daemon leads; nil when graceful shutdown came first.
    func waitForLeadership() async -> Term? {
        var announced = false, lastStatus = "", lastProblem = ""
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let sent = ContinuousClock.now
            var status: String
            do {
                switch try await store.tryAcquireLease(as: me, lease: lease) {
                case .acquired(let epoch, let previous):
                    return Term(epoch: epoch, previous: previous, renewedAt: sent)
                case .heldBy(let holder):
                    status = "standby, leader is \(holder.host) (epoch \(holder.epoch))"
                    try? await store.noteDaemon(me, role: "standby")
                    lastProblem = ""
                }
            } catch {
                status = "standby, the queue cannot be reached"
                if "\(error)" != lastProblem {
                    lastProblem = "\(error)"
                    logger.warning("Standby: cannot read the leader lease: \(error). Trying again every \(standbyPoll).")
                }
            }
            if !announced {
                // A standby is ready: it is up, configured, and takes over on its own.
                _ = notifier.ready(status: status)
                logger.notice("changegate is ready as a standby: \(status)", metadata: ["database": .string(store.path)])
                announced = true
            } else if status != lastStatus {
                _ = notifier.status(status)
                logger.info("\(status)")
            }
            lastStatus = status
            heartbeat.beat()
            try? await Task.sleep(for: standbyPoll)
        }
        return nil
    }

    /// Keeps the lease while `body` (the scheduler) runs, then gives it up so a standby takes over at once.
    /// Does not return when the lease is lost: the process stops its deploys and exits.
    func lead(_ term: Term, _ body: () async throws -> Void) async throws {
        let previous = term.previous.epoch > 0 ? "; took over from \(term.previous.host) (epoch \(term.previous.epoch))" : ""
        logger.notice("Leading the queue with epoch \(term.epoch)\(previous)",
                      metadata: ["message_id": MessageID.leaderAcquired.metadataValue, "LEADER_EPOCH": "\(term.epoch)"])
        let renewed = LastRenewal(term.renewedAt)
        store.setFence(LeaseFence(epoch: term.epoch, holder: me.holder, writableUntil: term.renewedAt + stopAt))
        try? await store.noteDaemon(me, role: "leader")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await renew(term.epoch, renewed) }
            group.addTask { await watchDeadline(term.epoch, renewed) }
            try await body()
            group.cancelAll()
        }
        store.setFence(nil)
        try? await store.releaseLease(epoch: term.epoch, as: me)
        try? await store.noteDaemon(me, role: nil)
        logger.notice("Gave up the leader lease (epoch \(term.epoch)); a standby takes over at once")
    }

    private func renew(_ epoch: Int64, _ renewed: LastRenewal) async {
        var failing = false, rounds = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: renewEvery)
            if Task.isCancelled { return }
            let sent = ContinuousClock.now
            do {
                guard try await store.renewLease(epoch: epoch, as: me, lease: lease) else {
                    await stepDown(epoch, because: "the lease row holds a newer epoch: another daemon took over")
                }
                renewed.advance(to: sent)
                store.setFence(LeaseFence(epoch: epoch, holder: me.holder, writableUntil: sent + stopAt))
                if failing { logger.notice("The leader lease is renewed again (epoch \(epoch))") }
                failing = false
                rounds += 1
                if rounds % 8 == 0 { try? await store.noteDaemon(me, role: "leader") }
            } catch {
                if !failing { logger.warning("Cannot renew the leader lease (epoch \(epoch)): \(error)") }
                failing = true
            }
        }
    }

    /// Apart from the renewals, which a hung connection could hold up: the deadline is kept by the clock alone.
    private func watchDeadline(_ epoch: Int64, _ renewed: LastRenewal) async {
        while !Task.isCancelled {
            let last = renewed.instant
            if ContinuousClock.now >= last + stopAt {
                await stepDown(epoch, because: "it was not renewed for \(ContinuousClock.now - last) (the lease is \(lease))", renewedAt: last)
            }
            try? await Task.sleep(until: min(last + stopAt, .now + .milliseconds(200)), clock: .continuous)
        }
    }

    /// Fences this daemon: no write from now on, every deploy command stopped before the lease can run out, exit.
    private func stepDown(_ epoch: Int64, because reason: String, renewedAt last: ContinuousClock.Instant? = nil) async -> Never {
        store.setFence(LeaseFence(epoch: epoch, holder: me.holder, writableUntil: .now - .seconds(1)))
        let base = last ?? ContinuousClock.now - stopAt
        let running = LiveGroups.current.count
        logger.critical("Lost the leader lease (epoch \(epoch)): \(reason). Stopping \(running) deploy command(s) and exiting; systemd starts this daemon again as a standby.",
                        metadata: ["message_id": MessageID.leaderLost.metadataValue, "LEADER_EPOCH": "\(epoch)"])
        _ = notifier.status("lost the leader lease (epoch \(epoch)); stopping deploy commands")
        let left = await LiveGroups.stopAll(killAt: base + killAt, giveUpAt: base + lease + .seconds(5))
        if left == 0 {
            logger.critical("Every deploy command of this daemon is stopped; exiting (status \(Self.lostLeaseExitCode))")
        } else {
            logger.critical("\(left) deploy process group(s) survived SIGKILL; exiting (status \(Self.lostLeaseExitCode))")
        }
        exit(Self.lostLeaseExitCode)
    }
}

/// When the last successful renewal was sent, shared by the renewer and the deadline watch.
final class LastRenewal: Sendable {
    private let value: Mutex<ContinuousClock.Instant>
    init(_ instant: ContinuousClock.Instant) { value = Mutex(instant) }
    var instant: ContinuousClock.Instant { value.withLock { $0 } }
    func advance(to instant: ContinuousClock.Instant) { value.withLock { $0 = max($0, instant) } }
}
