import CoreMetrics
import Foundation
import Prometheus
import QueueContract

/// The daemon's metrics, typed: the scheduler reports what happens through these calls; the figures that live in
/// the database (deployments by state, oldest wait, running deploys, audit head) are read at scrape time instead
/// (`QueueGauges`), so they are right even before the first event and after a restart.
public final class DaemonMetrics: Sendable {
    /// Everything exported at `/metrics`.
    public let registry: PrometheusCollectorRegistry
    /// For code that reports through swift-metrics (the ServiceNow client's transport) into the same registry.
    public let factory: PrometheusMetricsFactory
    private let approvalWaits: ValueHistogram

    /// Approval waits range from seconds (standard changes) to days (a CAB that meets weekly).
    static let approvalWaitBuckets: [Double] = [10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        // ServiceNow answers in tens of milliseconds to a few seconds; the request timeout defaults to 30 s.
        factory.defaultDurationHistogramBuckets = [.milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                                   .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
                                                   .seconds(5), .seconds(10), .seconds(30)]
        self.factory = factory
        approvalWaits = registry.makeValueHistogram(
            descriptor: Self.name("changegate_approval_wait_seconds",
                                  "Time deployments spent from awaiting_approval until executing."),
            buckets: Self.approvalWaitBuckets)
    }

    /// A deployment changed state (`from` nil: it was just taken in).
    public func taskMoved(from: TaskState?, to: TaskState, project: String, environment: String) {
        registry.makeCounter(
            descriptor: Self.name("changegate_deployment_transitions_total", "State changes of deployments, by the state entered."),
            labels: [("to", to.rawValue)]
        ).increment()
    }

    /// A deployment ended with `outcome`.
    public func outcome(_ outcome: Outcome, project: String, environment: String) {
        registry.makeCounter(
            descriptor: Self.name("changegate_deployment_outcomes_total", "Deployments that ended, by outcome, project and environment."),
            labels: [("outcome", outcome.rawValue), ("project", project), ("environment", environment)]
        ).increment()
    }

    /// A deployment left awaiting_approval for executing after `seconds`.
    public func approvalWait(_ seconds: Double) {
        approvalWaits.record(max(0, seconds))
    }

    /// One poll cycle of `connection` ran `lag` seconds later than scheduled (0 when on time).
    public func pollCycle(connection: String, lag: Double) {
        registry.makeGauge(
            descriptor: Self.name("changegate_poll_cycle_lag_seconds", "How late the last ServiceNow poll cycle of a connection started."),
            labels: [("connection", connection)]
        ).set(to: max(0, lag))
    }

    /// The text exposition format (version 0.0.4) of everything registered.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }

    static func name(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
