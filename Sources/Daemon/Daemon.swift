import ChangegateConfig
import ChangegateMetrics
import ChangeWebhook
import Foundation
import Logging
import PostgresQueue
import QueueStore
import ServiceLifecycle
import Systemd
import UnixSignals

/// Wires the daemon's services: the scheduler, the watchdog and config reload, under one ServiceGroup.
public enum Daemon {
    /// Runs until SIGTERM/SIGINT. Throws before READY=1 when the config, secrets or database are not usable.
    public static func run(configPath: String, logger: Logger) async throws {
        let config = try ConfigLoader.load(path: configPath)
        if let postgres = config.daemon.postgres {
            // The pool runs for as long as the daemon; the leader lease lets one daemon of several run the scheduler.
            var endpoint = PostgresEndpoint(postgres, password: try postgres.readPassword(configFile: configPath))
            // A quarter of the lease: a frozen leader's locks are gone long before a standby may take over.
            endpoint.idleInTransactionTimeout = max(.seconds(1), postgres.leaderLease / 4)
            try await PostgresQueueStore.withStore(endpoint, logger: logger) { store in
                try await run(config: config, configPath: configPath, store: store, sqlitePath: nil,
                              lease: (store, postgres.leaderLease), logger: logger)
            }
            return
        }
        DatabaseFileModes.createIfMissing(config.daemon.database)
        let store = try QueueStore(path: config.daemon.database)
        DatabaseFileModes.repair(config.daemon.database)
        let lock = try InstanceLock(databasePath: config.daemon.database)
        defer { withExtendedLifetime(lock) {} }
        try await run(config: config, configPath: configPath, store: store, sqlitePath: config.daemon.database, logger: logger)
    }

    /// The services on an open queue, whatever its backend. `sqlitePath`: the file the scrape-time database gauges
    /// read on SQLite (on PostgreSQL they are read through the store's pool).
    /// `lease`: a shared queue, where this daemon runs the scheduler only while it holds the leader lease.
    static func run(config: ChangegateConfiguration, configPath: String, store: any QueueStorage, sqlitePath: String?,
                    lease: (PostgresQueueStore, Duration)? = nil, logger: Logger) async throws {
        // Always there, so the scheduler reports unconditionally; served only when metrics_listen is set.
        let metrics = DaemonMetrics()
        let connections = try Connections(config: config, logger: logger, metricsFactory: metrics.factory)
        let notifier = SystemdNotifier()
        let heartbeat = ProgressHeartbeat()
        // New rows are noticed from the backend's change notifications; the interval is the fallback poll where
        // there are none, and a slow safety check where there are.
        let feed = try store.changeFeed(fallbackInterval: config.daemon.intakeInterval)
        if let reason = feed.pollingReason {
            logger.warning("New queue rows are noticed by polling every \(config.daemon.intakeInterval), not at once: \(reason)")
        }
        let scheduler = try Scheduler(store: store, configuration: config, services: connections.clients.mapValues { $0 as any ChangeService },
                                      heartbeat: heartbeat, notifier: notifier, logger: logger,
                                      databaseChanges: feed.changes, metrics: metrics)
        let watchdog = WatchdogService(heartbeat: heartbeat, notifier: notifier, logger: logger, stalledMessageID: .schedulerStalled)
        let reload = ReloadService(configPath: configPath, scheduler: scheduler, notifier: notifier, logger: logger)
        // Shut down in reverse order: the watchdog keeps pinging until the scheduler has drained.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: watchdog, successTerminationBehavior: .ignore),
            .init(service: lease.map { store, lease in
                LeadingScheduler(scheduler: scheduler, leadership: Leadership(store: store, me: DaemonIdentity(), lease: lease, notifier: notifier,
                                                                               heartbeat: heartbeat, logger: logger))
            } ?? scheduler),
            .init(service: reload, successTerminationBehavior: .ignore),
        ]
        if let feeding = feed.run {
            // Stopped after the scheduler: it feeds the scheduler's intake until the end.
            services.insert(.init(service: FeedService(feed: feeding), successTerminationBehavior: .ignore), at: 0)
        }
        if let listen = config.daemon.metricsListen {
            // First in the list, so stopped last: scrapes still answer while deployments drain.
            let gauges = try sqlitePath.map { try QueueGauges(databasePath: $0, registry: metrics.registry) }
                ?? lease.map { postgres, _ in
                    QueueGauges(registry: metrics.registry) {
                        let f = try await postgres.gaugeFigures()
                        return .init(byState: f.byState, oldestWaitingSeconds: f.oldestWaitingSeconds, auditHeadSeq: f.auditHeadSeq)
                    }
                }
            services.insert(.init(service: MetricsEndpoint(listen: listen, metrics: metrics, gauges: gauges, logger: logger)), at: 0)
        }
        if let webhook = config.daemon.webhook {
            // Read before READY=1, so a missing or short secret stops the start with its key and fix.
            let verifier = WebhookVerifier(secret: try webhook.readSecret(configFile: configPath), maxSkew: webhook.maxSkew)
            let tls = webhook.tlsCertificate.flatMap { cert in webhook.tlsKey.map { WebhookListener.TLSFiles(certificate: cert, key: $0) } }
            services.append(.init(service: WebhookListener(host: webhook.host, port: webhook.port, tls: tls, verifier: verifier, logger: logger,
                                                           metricsFactory: metrics.factory) { scheduler.changeNotified($0) }))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await group.run()
        } catch {
            await connections.shutdown()
            throw error
        }
        await connections.shutdown()
    }
}

/// The scheduler of a shared queue: standby until the lease is this daemon's, then the scheduler under it.
struct LeadingScheduler: Service {
    let scheduler: Scheduler
    let leadership: Leadership

    func run() async throws {
        guard let term = await cancelWhenGracefulShutdown({ await leadership.waitForLeadership() }) ?? nil else { return }
        try await leadership.lead(term) { try await scheduler.run() }
    }
}

/// Runs a queue backend's change feed (PostgreSQL's LISTEN session) until graceful shutdown reaches it.
struct FeedService: Service {
    let feed: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown { await feed() }
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
