import ChangegateConfig
import ChangegateMetrics
import Foundation
import Logging
import QueueStore
import ServiceLifecycle
import Systemd
import UnixSignals

/// Wires the daemon's services: the scheduler, the watchdog and config reload, under one ServiceGroup.
public enum Daemon {
    /// Runs until SIGTERM/SIGINT. Throws before READY=1 when the config, secrets or database are not usable.
    public static func run(configPath: String, logger: Logger) async throws {
        let config = try ConfigLoader.load(path: configPath)
        DatabaseFileModes.createIfMissing(config.daemon.database)
        let store = try QueueStore(path: config.daemon.database)
        DatabaseFileModes.repair(config.daemon.database)
        let lock = try InstanceLock(databasePath: config.daemon.database)
        // Always there, so the scheduler reports unconditionally; served only when metrics_listen is set.
        let metrics = DaemonMetrics()
        let connections = try Connections(config: config, logger: logger, metricsFactory: metrics.factory)
        let notifier = SystemdNotifier()
        let heartbeat = ProgressHeartbeat()
        // New rows are noticed from the database file's changes; the interval is the fallback poll where
        // inotify is not available, and a slow safety check where it is.
        let watcher = try DatabaseWatcher(path: config.daemon.database, fallbackInterval: config.daemon.intakeInterval)
        if let reason = watcher.pollingReason {
            logger.warning("New queue rows are noticed by polling every \(config.daemon.intakeInterval), not at once: \(reason)")
        }
        let scheduler = try Scheduler(store: store, configuration: config, services: connections.clients.mapValues { $0 as any ChangeService },
                                      heartbeat: heartbeat, notifier: notifier, logger: logger,
                                      databaseChanges: { watcher.changes() }, metrics: metrics)
        let watchdog = WatchdogService(heartbeat: heartbeat, notifier: notifier, logger: logger, stalledMessageID: .schedulerStalled)
        let reload = ReloadService(configPath: configPath, scheduler: scheduler, notifier: notifier, logger: logger)
        // Shut down in reverse order: the watchdog keeps pinging until the scheduler has drained.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: watchdog, successTerminationBehavior: .ignore),
            .init(service: scheduler),
            .init(service: reload, successTerminationBehavior: .ignore),
        ]
        if let listen = config.daemon.metricsListen {
            // First in the list, so stopped last: scrapes still answer while deployments drain.
            let gauges = try QueueGauges(databasePath: config.daemon.database, registry: metrics.registry)
            services.insert(.init(service: MetricsEndpoint(listen: listen, metrics: metrics, gauges: gauges, logger: logger)), at: 0)
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        defer { withExtendedLifetime(lock) {} }
        do {
            try await group.run()
        } catch {
            await connections.shutdown()
            throw error
        }
        await connections.shutdown()
    }
}

/// SIGHUP: re-reads the config; a bad file is reported and the running one kept.
struct ReloadService: Service {
    let configPath: String
    let scheduler: Scheduler
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            _ = notifier.reloading()
            do {
                let new = try ConfigLoader.load(path: configPath)
                scheduler.reload(new)
                logger.notice("Configuration reloaded from \(configPath)", metadata: ["message_id": MessageID.configReloaded.metadataValue])
            } catch {
                logger.error("Configuration reload failed, keeping the running configuration: \(error)")
            }
            _ = notifier.notify("READY=1")
        }
    }
}
