import AsyncHTTPClient
import Foundation
import Logging
import ServiceNowClient
import ServiceNowSimulator
import Testing
@testable import Doctor

/// `Diagnostics.checkConfigurationItems` against the simulator over HTTP.
@Suite struct ConfigurationItemCheckTests {
    @Test func reportsFoundAndMissingCIs() async throws {
        var config = SimulatorConfiguration()
        config.port = 0
        config.logger = Logger(label: "sim", factory: { _ in SwiftLogNoOpLogHandler() })
        let app = try SimulatorApplication(configuration: config)
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        do {
            try await check(app, http)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    func check(_ app: SimulatorApplication, _ http: HTTPClient) async throws {
        try await app.withRunning { base in
            let web = try await Self.createCI(base, http, "web-01")
            let client = ServiceNowClient(
                configuration: ConnectionConfiguration(name: "sim", baseURL: base, credentials: .basic(username: "svc.changegate", password: Secret("sim-password")),
                                                       retry: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(20), maxDelay: .seconds(1))),
                httpClient: http, logger: Logger(label: "c", factory: { _ in SwiftLogNoOpLogHandler() }))
            let checks = await Diagnostics.checkConfigurationItems([
                (key: "projects.shop.cmdb_ci", value: "web-01"),
                (key: "projects.shop.environments.Production.cmdb_ci", value: web),
                (key: "projects.api.cmdb_ci", value: "web-01"),
                (key: "projects.db.cmdb_ci", value: "db-99"),
            ], connection: "servicenow.sim", client: client)
            #expect(checks.count == 3)
            let byName = Dictionary(uniqueKeysWithValues: checks.map { ($0.name, $0) })
            let named = try #require(byName["servicenow.sim CI \"web-01\""])
            #expect(named.status == .ok)
            #expect(named.detail.contains(web))
            #expect(named.detail.contains("projects.api.cmdb_ci, projects.shop.cmdb_ci"))
            #expect(byName["servicenow.sim CI \"\(web)\""]?.status == .ok)
            let missing = try #require(byName["servicenow.sim CI \"db-99\""])
            #expect(missing.status == .fail)
            #expect(missing.fix?.contains("projects.db.cmdb_ci") == true)
        }
    }

    static func createCI(_ base: String, _ http: HTTPClient, _ name: String) async throws -> String {
        var request = HTTPClientRequest(url: base + "/_sim/cis")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(Data(#"{"name":"\#(name)"}"#.utf8))
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        let json = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
        return try #require(json?["sys_id"] as? String)
    }
}
