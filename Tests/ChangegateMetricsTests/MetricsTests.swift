import AsyncHTTPClient
import ChangegateConfig
import Foundation
import GRDB
import Logging
import QueueContract
import QueueStore
import Testing

@testable import ChangegateMetrics

@Suite struct MetricsListenTests {
    @Test func parsesLoopbackUnixAndPublicAddresses() {
        #expect(MetricsListen.parse("127.0.0.1:9464") == .tcp(host: "127.0.0.1", port: 9464))
        #expect(MetricsListen.parse("[::1]:9464") == .tcp(host: "::1", port: 9464))
        #expect(MetricsListen.parse("unix:/run/changegate/metrics.sock") == .unix(path: "/run/changegate/metrics.sock"))
        #expect(MetricsListen.parse("0.0.0.0:9464")?.isLoopback == false)
        #expect(MetricsListen.parse("localhost:9464")?.isLoopback == true)
        for bad in ["9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "unix:relative.sock", "::1:9464"] {
            #expect(MetricsListen.parse(bad) == nil, "\(bad)")
        }
    }

    func load(_ daemon: String) throws -> ChangegateConfiguration {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cg-metrics-\(UUID().uuidString).toml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "[daemon]\n\(daemon)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return try ConfigLoader.load(path: path)
    }

    @Test func offByDefaultAndPublicOnlyWhenSaidSo() throws {
        #expect(try load("").daemon.metricsListen == nil)
        #expect(try load("metrics_listen = \"127.0.0.1:9464\"").daemon.metricsListen == .tcp(host: "127.0.0.1", port: 9464))
        #expect(try load("metrics_listen = \"0.0.0.0:9464\"\nmetrics_listen_public = true").daemon.metricsListen
                == .tcp(host: "0.0.0.0", port: 9464))
        do {
            _ = try load("metrics_listen = \"0.0.0.0:9464\"")
            Issue.record("a public address was accepted without metrics_listen_public")
        } catch let error as ConfigError {
            #expect(error.key == "daemon.metrics_listen")
            #expect(error.fix.contains("metrics_listen_public = true"))
        }
    }
}

@Suite struct DaemonMetricsTests {
    @Test func facadeCallsShowInTheExposition() {
        let metrics = DaemonMetrics()
        metrics.outcome(.succeeded, project: "web-shop", environment: "Production")
        metrics.outcome(.succeeded, project: "web-shop", environment: "Production")
        metrics.outcome(.changeRejected, project: "web-shop", environment: "Production")
        metrics.taskMoved(from: .awaitingApproval, to: .executing, project: "web-shop", environment: "Production")
        metrics.approvalWait(120)
        metrics.pollCycle(connection: "default", lag: 0.25)
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains(#"changegate_deployment_outcomes_total{outcome="succeeded",project="web-shop",environment="Production"} 2"#), "\(text)")
        #expect(text.contains(#"changegate_deployment_outcomes_total{outcome="change_rejected",project="web-shop",environment="Production"} 1"#))
        #expect(text.contains(#"changegate_deployment_transitions_total{to="executing"} 1"#))
        #expect(text.contains(#"changegate_approval_wait_seconds_bucket{le="300.0"} 1"#), "\(text)")
        #expect(text.contains(#"changegate_approval_wait_seconds_bucket{le="60.0"} 0"#))
        #expect(text.contains(#"changegate_poll_cycle_lag_seconds{connection="default"} 0.25"#))
        #expect(text.contains("# TYPE changegate_approval_wait_seconds histogram"))
    }
}

/// A queue database made by QueueStore (the real schema), with rows put in the states the gauges count.
struct TemporaryQueue {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cg-gauges-\(UUID().uuidString)").path
    var path: String { directory + "/queue.db" }

    func create() throws -> DatabaseQueue {
        _ = try QueueStore(path: path)
        return try DatabaseQueue(path: path)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

@Suite struct QueueGaugesTests {
    @Test func gaugesComeFromTheDatabaseAtScrapeTime() async throws {
        let queue = TemporaryQueue()
        defer { queue.remove() }
        let db = try queue.create()
        try await db.write { db in
            for _ in 0..<3 { try db.execute(sql: "INSERT INTO deployments (project, environment, release) VALUES ('p', 'e', '1')") }
            try db.execute(sql: """
                UPDATE deployments SET state = 'awaiting_approval',
                    waiting_since = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-600 seconds') WHERE id = 1
                """)
            try db.execute(sql: "UPDATE deployments SET state = 'executing' WHERE id = 2")
        }
        let metrics = DaemonMetrics()
        let gauges = try QueueGauges(databasePath: queue.path, registry: metrics.registry)
        await gauges.refresh()
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains(#"changegate_deployments{state="queued"} 1"#), "\(text)")
        #expect(text.contains(#"changegate_deployments{state="awaiting_approval"} 1"#))
        #expect(text.contains(#"changegate_deployments{state="completing"} 0"#))
        #expect(text.contains("changegate_deploys_running 1"))
        #expect(text.contains("changegate_audit_head_seq 0"))
        #expect(text.contains("changegate_database_readable 1"))
        let oldest = try await gauges.read().oldestWaitingSeconds
        #expect(oldest >= 599 && oldest < 3600, "\(oldest)")
    }
}

@Suite struct MetricsEndpointTests {
    /// Runs the endpoint on `listen` until `body` returns.
    func withEndpoint(_ listen: MetricsListen, metrics: DaemonMetrics,
                      _ body: @Sendable @escaping (_ port: Int?) async throws -> Void) async throws {
        let (ports, continuation) = AsyncStream<Int?>.makeStream()
        let endpoint = MetricsEndpoint(listen: listen, metrics: metrics, gauges: nil, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                                       onListening: { continuation.yield($0) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await endpoint.run() }
            var iterator = ports.makeAsyncIterator()
            let port = await iterator.next() ?? nil
            defer { group.cancelAll() }
            try await body(port)
        }
    }

    @Test func servesTheTextFormatOnLoopbackAndUnixSockets() async throws {
        let metrics = DaemonMetrics()
        metrics.outcome(.deployFailed, project: "p", environment: "e")
        let socketDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("cg-sock-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: socketDirectory) }
        let socket = socketDirectory + "/metrics.sock"
        let http = HTTPClient.shared
        let expected = #"changegate_deployment_outcomes_total{outcome="deploy_failed",project="p",environment="e"} 1"#

        try await withEndpoint(.tcp(host: "127.0.0.1", port: 0), metrics: metrics) { port in
            let response = try await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port ?? 0)/metrics"), timeout: .seconds(30))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
            let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
            #expect(body.contains(expected), "\(body)")
        }
        // A socket file left by a killed daemon does not stop the next one from binding.
        for _ in 0..<2 {
            try await withEndpoint(.unix(path: socket), metrics: metrics) { _ in
                let url = "http+unix://\(socket.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? socket)/metrics"
                let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
                let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
                #expect(body.contains(expected), "\(body)")
            }
        }
    }
}
