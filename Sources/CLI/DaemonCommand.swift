import ArgumentParser
import ChangegateConfig
import Daemon
import Foundation
import Logging
import Systemd

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run the daemon (as the systemd service does): take queue rows through their change requests.")

    @Option(name: .long, help: "The configuration file.")
    var config: String = ConfigLoader.defaultPath

    @Option(name: .long, help: "Log level (overrides daemon.log_level): trace, debug, info, notice, warning, error.")
    var logLevel: Logger.Level?

    func run() async throws {
        try await reporting {
            let settings: ChangegateConfiguration
            settings = try ConfigLoader.load(path: config)
            let level = logLevel ?? Logger.Level(rawValue: settings.daemon.logLevel) ?? .info
            LoggingSetup.bootstrap(identifier: "changegate", level: level)
            var logger = Logger(label: "changegate")
            logger.logLevel = level
            try await Daemon.run(configPath: config, logger: logger)
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the configuration file and the secrets it names; print the file, line, key and fix of a problem.")

    @Option(name: .long, help: "The configuration file.")
    var config: String = ConfigLoader.defaultPath

    @Flag(name: .long, help: "Do not read the secret files (check syntax and settings only).")
    var skipSecrets = false

    func run() async throws {
        try await reporting {
            let settings: ChangegateConfiguration
            settings = try ConfigLoader.load(path: config)
            if !skipSecrets {
                for (name, c) in settings.connections.sorted(by: { $0.key < $1.key }) {
                    for (key, ref) in [("client_secret_file", c.clientSecretFile), ("password_file", c.passwordFile),
                                       ("refresh_token_file", c.refreshTokenFile)] {
                        guard let ref else { continue }
                        _ = try SecretFile.read(ref, key: "servicenow.\(name).\(key)", configFile: config)
                    }
                }
                _ = try settings.daemon.webhook?.readSecret(configFile: config)
            }
            print("\(config): OK — \(settings.projects.count) project(s), \(settings.environments.count) environment(s), \(settings.connections.count) connection(s); database \(settings.daemon.database)")
        }
    }
}
