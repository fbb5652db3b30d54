import AsyncHTTPClient
import ChangegateConfig
import CoreMetrics
import Foundation
import Logging
import ServiceNowClient

/// The ServiceNow clients of the configured connections, one HTTP client each (own TLS roots and proxy rule).
public final class Connections: Sendable {
    public let clients: [String: ServiceNowClient]
    private let httpClients: [HTTPClient]

    /// Reads each connection's secrets (credential files) and builds its client.
    public init(config: ChangegateConfiguration, logger: Logger,
                environment: [String: String] = ProcessInfo.processInfo.environment,
                metricsFactory: (any MetricsFactory)? = nil) throws {
        var clients: [String: ServiceNowClient] = [:]
        var https: [HTTPClient] = []
        do {
            for (name, settings) in config.connections.sorted(by: { $0.key < $1.key }) {
                var configuration = try Self.configuration(settings, configFile: config.path, environment: environment)
                configuration.metricsFactory = metricsFactory
                let http = try ServiceNowClient.makeHTTPClient(for: [configuration], environment: environment)
                https.append(http)
                var clientLogger = logger
                clientLogger[metadataKey: "connection"] = .string(name)
                clients[name] = ServiceNowClient(configuration: configuration, httpClient: http, logger: clientLogger)
            }
        } catch {
            for http in https { try? http.syncShutdown() }
            throw error
        }
        self.clients = clients
        self.httpClients = https
    }

    public func client(_ name: String?) -> ServiceNowClient? {
        guard let name else { return nil }
        return clients[name]
    }

    public func shutdown() async {
        for http in httpClients { try? await http.shutdown() }
    }

    /// The client configuration of one connection, its secrets read from their files (`changegate doctor` builds
    /// its client with this too, so it checks what the daemon will use).
    public static func configuration(_ s: ConnectionSettings, configFile: String,
                              environment: [String: String]) throws -> ConnectionConfiguration {
        func secret(_ reference: String?, _ key: String) throws -> Secret {
            Secret(try SecretFile.read(reference ?? "", key: "servicenow.\(s.name).\(key)", configFile: configFile, environment: environment))
        }
        let credentials: Credentials
        switch s.auth {
        case .password:
            credentials = .password(clientID: s.clientID ?? "", clientSecret: try secret(s.clientSecretFile, "client_secret_file"),
                                    username: s.username ?? "", password: try secret(s.passwordFile, "password_file"))
        case .refreshToken:
            credentials = .refreshToken(clientID: s.clientID ?? "", clientSecret: try secret(s.clientSecretFile, "client_secret_file"),
                                        refreshToken: try secret(s.refreshTokenFile, "refresh_token_file"))
        case .clientCredentials:
            credentials = .clientCredentials(clientID: s.clientID ?? "", clientSecret: try secret(s.clientSecretFile, "client_secret_file"))
        case .basic:
            credentials = .basic(username: s.username ?? "", password: try secret(s.passwordFile, "password_file"))
        }
        var configuration = ConnectionConfiguration(name: s.name, baseURL: s.url, credentials: credentials, caBundlePath: s.caBundle,
                                                    requestTimeout: s.timeout, maxConcurrentRequests: s.maxConcurrentRequests,
                                                    statusBatchSize: s.statusBatchSize)
        configuration.requestsPerHour = s.requestsPerHour
        return configuration
    }
}
