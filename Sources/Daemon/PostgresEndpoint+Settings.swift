import ChangegateConfig
import PostgresQueue

extension PostgresEndpoint {
    /// The server a config's `[daemon] database` URL names, with its password already read
    /// (`PostgresSettings.readPassword`); the daemon and every command connect through this.
    public init(_ settings: PostgresSettings, password: String?, applicationName: String = PostgresEndpoint.defaultApplicationName) {
        self.init(host: settings.host, port: settings.port, user: settings.user, password: password, database: settings.database,
                  tls: settings.tls == .verifyFull, rootCertificate: settings.rootCertificate, applicationName: applicationName)
    }
}
