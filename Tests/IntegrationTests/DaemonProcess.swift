import Foundation

/// A config, database and secrets in a temporary folder, and the built `changegate daemon` running on them.
final class DaemonProcess: @unchecked Sendable {
    let dir: String
    let configPath: String
    let database: String
    var process: Process?
    let logPath: String

    /// `projects` are TOML tables appended to a config whose connection points at `simulator`.
    init(simulator: SimulatorProcess?, pollInterval: String = "300ms", projects: String, clientSecret: String = "sim-client-secret",
         password: String = "sim-password", extra: String = "", postgres: (url: String, password: String)? = nil) throws {
        dir = try tempDirectory("daemon")
        configPath = "\(dir)/changegate.toml"
        database = postgres?.url ?? "\(dir)/changegate.db"
        logPath = "\(dir)/daemon.log"
        try clientSecret.write(toFile: "\(dir)/client-secret", atomically: true, encoding: .utf8)
        try password.write(toFile: "\(dir)/password", atomically: true, encoding: .utf8)
        chmod("\(dir)/client-secret", 0o600)
        chmod("\(dir)/password", 0o600)
        var extra = extra
        if let postgres {
            try postgres.password.write(toFile: "\(dir)/database-password", atomically: true, encoding: .utf8)
            chmod("\(dir)/database-password", 0o600)
            extra += "\ndatabase_password_file = \"\(dir)/database-password\""
        }
        let connection = simulator.map { sim in
            """
            [servicenow.sim]
            url = "\(sim.base)"
            client_id = "changegate"
            client_secret_file = "\(dir)/client-secret"
            username = "svc.changegate"
            password_file = "\(dir)/password"
            """
        } ?? ""
        let config = """
            [daemon]
            database = "\(database)"
            poll_interval = "\(pollInterval)"
            log_level = "debug"
            drain_timeout = "20s"
            \(extra)

            \(connection)

            [environments.Production]
            change_controlled = true

            [environments.Test]
            change_controlled = false

            \(projects)
            """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Appends TOML (projects, usually) to the config.
    func configure(_ toml: String) throws {
        try (String(contentsOfFile: configPath, encoding: .utf8) + "\n" + toml + "\n").write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// A shell deploy script in the test folder; returns its path.
    func script(_ name: String, _ body: String) throws -> String {
        let path = "\(dir)/\(name)"
        try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    /// A command the daemon runs under, e.g. `ip netns exec NAME` (which execs it: the pid stays the daemon's).
    var launcher: [String] = []

    func start() throws {
        let p = Process()
        let command = launcher + [Binaries.changegate, "daemon", "--config", configPath]
        p.executableURL = URL(fileURLWithPath: command[0])
        p.arguments = Array(command.dropFirst())
        guard FileManager.default.createFile(atPath: logPath, contents: nil), let log = FileHandle(forWritingAtPath: logPath) else {
            throw HarnessError("cannot create the daemon's log \(logPath)")
        }
        log.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        var env = ProcessInfo.processInfo.environment
        env["DAEMON_TEST_SECRET_CANARY"] = "never-in-a-child"
        p.environment = env
        try p.run()
        process = p
    }

    /// Waits for the daemon to have created its database and taken its lock.
    func startAndWait() async throws {
        try start()
        try await eventually("the daemon to be up", timeout: .seconds(20)) {
            FileManager.default.fileExists(atPath: database + ".lock") && (try? sqlite3(database, "SELECT count(*) FROM meta")) == "1"
        }
    }

    func stop() {
        guard let p = process, p.isRunning else { return }
        p.terminate()
        kill(p.processIdentifier, SIGCONT)  // a daemon a test froze (SIGSTOP) gets the SIGTERM only once it runs
        p.waitUntilExit()
    }

    func kill9() {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// Runs when the test ends, passed or failed (also when `init` throws once `dir` is set: every stored
    /// property is initialized by then): nothing of the test is left running or on disk.
    deinit {
        stop()
        killProcessGroups(under: dir)
        try? FileManager.default.removeItem(atPath: dir)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func state(_ id: Int64) throws -> String { try sqlite3(database, "SELECT state FROM deployments WHERE id = \(id)") }

    func column(_ id: Int64, _ column: String) throws -> String {
        try sqlite3(database, "SELECT ifnull(\(column), '') FROM deployments WHERE id = \(id)")
    }

    func waitForState(_ id: Int64, _ states: Set<String>, timeout: Duration = .seconds(30)) async throws -> String {
        var last = ""
        do {
            try await eventually("task \(id) to reach \(states.sorted())", timeout: timeout) {
                last = try state(id)
                return states.contains(last)
            }
        } catch {
            throw HarnessError("\(error) (last state \(last)); task log:\n\(taskLog(id))\ndaemon log tail:\n\(log.suffix(3000))")
        }
        return last
    }

    func waitForTerminal(_ id: Int64, timeout: Duration = .seconds(30)) async throws -> String {
        try await waitForState(id, ["succeeded", "failed", "cancelled"], timeout: timeout)
    }

    func taskLog(_ id: Int64) -> String {
        (try? run(Binaries.changegate, ["logs", "\(id)", "--database", database]).stdout) ?? ""
    }

    func cli(_ arguments: [String]) throws -> CommandResult {
        try run(Binaries.changegate, arguments + ["--database", database])
    }
}
