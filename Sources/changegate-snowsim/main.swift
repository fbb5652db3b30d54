import ArgumentParser
import Foundation
import Logging
import ServiceNowSimulator

/// A local ServiceNow instance for changegate's tests and demos. Thin shell over ServiceNowSimulator.
struct SnowSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "changegate-snowsim",
        abstract: "Run a simulated ServiceNow instance (OAuth, Change Management API, Table API, /_sim control API)."
    )

    @Option(help: "Address to bind. Loopback by default; bind elsewhere only on a trusted network.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free port (see --port-file).")
    var port = 8090

    @Option(help: "Access-token lifetime in seconds.")
    var tokenLifetime: Double = 1799

    @Option(help: "Keep changes, approvals and journals in this JSON file across restarts.")
    var stateFile: String?

    @Option(help: "Seed for sys_ids and fault decisions, for reproducible runs.")
    var seed: UInt64 = 0x5eed

    @Option(help: "Comma-separated names of the approvers asked when a change enters Authorize.")
    var approvers = "Alice Approver,Bob CAB"

    @Option(help: "Write the bound port to this file once listening.")
    var portFile: String?

    @Option(help: "Time zone of display values (dates' `value` is always UTC).")
    var displayTimezone = "America/Los_Angeles"

    @Option(help: "com.glide.attachment.max_size in MB: larger uploads are refused.")
    var attachmentMaxSize: Double = 1024

    @Flag(help: "Allow Implement → Closed in one step (real state models go through Review).")
    var allowImplementToClosed = false

    @Flag(help: "Refuse the client_credentials grant, as a real instance does by default.")
    var disableClientCredentials = false

    @Flag(help: "Do not log each API request.")
    var quiet = false

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard tokenLifetime > 0 else { throw ValidationError("--token-lifetime must be positive") }
        guard attachmentMaxSize >= 0 else { throw ValidationError("--attachment-max-size must be 0 or more (MB)") }
    }

    func run() async throws {
        var config = SimulatorConfiguration()
        config.host = host
        config.port = port
        config.tokenLifetime = tokenLifetime
        config.stateFile = stateFile
        config.seed = seed
        config.approvers = approvers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        config.portFile = portFile
        config.displayTimeZone = displayTimezone
        config.allowImplementToClosed = allowImplementToClosed
        config.attachmentMaxSizeMB = attachmentMaxSize
        config.clientCredentialsEnabled = !disableClientCredentials
        var logger = Logger(label: "changegate-snowsim") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = quiet ? .warning : .info
        config.logger = logger
        let app = try SimulatorApplication(configuration: config)
        let shownHost = host.contains(":") ? "[\(host)]" : host
        try await app.run(handleSignals: true) { port in
            // Unbuffered, so a script waiting for this line sees it at once.
            FileHandle.standardOutput.write(Data("changegate-snowsim listening on http://\(shownHost):\(port)\n".utf8))
        }
    }
}

// Parsed and run by hand: in main.swift the synchronous `main()` overload would be picked.
do {
    var command = try SnowSim.parseAsRoot()
    if let sim = command as? SnowSim { try await sim.run() } else { try command.run() }
} catch {
    SnowSim.exit(withError: error)
}
