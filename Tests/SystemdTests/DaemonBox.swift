import Foundation
import Testing

/// The built executables: `CHANGEGATE_BIN_DIR` (set by `make test`) or `.build/debug` of this checkout.
enum BuiltBinaries {
    static var directory: String {
        if let dir = ProcessInfo.processInfo.environment["CHANGEGATE_BIN_DIR"], !dir.isEmpty { return dir }
        return SystemdBox.repository.appendingPathComponent(".build/debug").path
    }
    static var changegate: String { "\(directory)/changegate" }
    static var simulator: String { "\(directory)/changegate-snowsim" }

    /// Fails the test (not a skip: building is the caller's job) when a binary is missing.
    static func require() throws {
        for path in [changegate, simulator] where !FileManager.default.isExecutableFile(atPath: path) {
            throw BoxTestError("\(path) is missing: build first (`swift build`, or `make test`), or set CHANGEGATE_BIN_DIR")
        }
    }
}

struct BoxTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The real `changegate` daemon run by the shipped `changegate.service` inside a systemd box, talking to
/// `changegate-snowsim` which runs in the same box (the box has its own network namespace). Producers insert
/// rows as a member of group changegate with the sqlite3 CLI.
struct DaemonBox {
    let box: SystemdBox

    static let database = "/var/lib/changegate/changegate.db"
    static let deployScript = "/usr/local/lib/changegate-test/deploy.sh"
    /// Test-only trigger named by `daemon.test_hang_file`: while it exists the scheduler loop hangs.
    static let hangFile = "/run/changegate-test/hang"
    static let producer = "cg-producer"
    static let outsider = "cg-outsider"
    /// The simulator's fixed OAuth client secret and service-account password: the secrets under test.
    static let secrets = ["sim-client-secret", "sim-password"]
    static let watchdogSeconds = 4

    /// Test paths and timings on top of the shipped unit. TimeoutStopSec= is shorter than a draining deployment
    /// on purpose: the stop only ends cleanly if the daemon's EXTEND_TIMEOUT_USEC= works.
    static let dropIn = """
        [Unit]
        Wants=changegate-snowsim.service
        After=changegate-snowsim.service

        [Service]
        WatchdogSec=\(watchdogSeconds)s
        RestartSec=1s
        TimeoutStopSec=4s
        """

    static let simulatorUnit = """
        [Unit]
        Description=ServiceNow simulator for the changegate box tests

        [Service]
        ExecStart=/usr/local/bin/changegate-snowsim --port 8090 --quiet
        """

    /// Writes what it was started with (minus the variables every process has), then optionally sleeps.
    static let script = """
        #!/bin/sh
        echo "deploying $CHANGEGATE_PROJECT $CHANGEGATE_RELEASE to $CHANGEGATE_ENVIRONMENT change=$CHANGEGATE_CHANGE_NUMBER"
        env > "/var/lib/changegate/child-env-$CHANGEGATE_TASK_ID"
        if [ -n "$DEPLOY_SLEEP" ]; then sleep "$DEPLOY_SLEEP"; fi
        echo "finished $CHANGEGATE_RELEASE" >&2
        """

    static let baseConfig = """
        [daemon]
        poll_interval = "300ms"
        drain_timeout = "60s"
        # Test-only: the box tests hang the scheduler loop with this file to prove the watchdog.
        test_hang_file = "\(hangFile)"

        [servicenow.sim]
        url = "http://127.0.0.1:8090"
        client_id = "changegate"
        # Credential names: LoadCredential=changegate:/etc/changegate/credentials hands them over.
        client_secret_file = "servicenow-sim-client-secret"
        username = "svc.changegate"
        password_file = "servicenow-sim-password"

        [environments.Production]
        change_controlled = true

        [environments.Test]
        change_controlled = false

        [projects.web]
        change_controlled = true
        connection = "sim"
        command = ["\(deployScript)"]
        kill_grace = "2s"
        """

    /// Boots a box, installs everything and starts the simulator and `changegate.service` (returns once
    /// `systemctl start` returned, i.e. after READY=1).
    static func start() throws -> DaemonBox {
        try BuiltBinaries.require()
        let box = try SystemdBox.startChangegate(
            binary: BuiltBinaries.changegate, config: baseConfig, dropIn: dropIn,
            credentials: ["servicenow-sim-client-secret": "\(secrets[0])\n", "servicenow-sim-password": "\(secrets[1])\n"],
            extraUnits: ["changegate-snowsim.service": simulatorUnit],
            binds: [.init(BuiltBinaries.simulator, "/usr/local/bin/changegate-snowsim")])
        let daemon = DaemonBox(box: box)
        do {
            try box.run("sh", "-c", "mkdir -p \"${1%/*}\" && cat > \"$1\" && chmod 0755 \"$1\"", "sh", deployScript, input: script)
            try box.run("useradd", "--no-create-home", "--user-group", "--groups", "changegate", producer)
            try box.run("useradd", "--no-create-home", "--user-group", outsider)
            try box.run("mkdir", "-p", (hangFile as NSString).deletingLastPathComponent)
            try box.run("systemctl", "start", "changegate-snowsim.service")
            let listening = box.wait(timeout: .seconds(30)) { (try? daemon.simulator("GET", "/_sim/changes")) != nil }
            guard listening else { throw BoxTestError("the simulator did not answer in the box") }
            try box.run("systemctl", "start", "changegate.service")
        } catch {
            try? box.stop()
            throw error
        }
        return daemon
    }

    /// Stops the box and records an issue unless nothing of it is left on the host.
    func finish() {
        #expect(throws: Never.self) { try box.stop() }
        #expect(throws: Never.self) { try box.checkClean() }
    }

    // MARK: producers and the queue

    /// Runs SQL with the sqlite3 CLI as `user` (default: the producer, a member of group changegate).
    func sql(_ statement: String, as user: String = producer) throws -> CommandResult {
        try box.exec(["setpriv", "--reuid=\(user)", "--regid=\(user)", "--init-groups",
                      "sqlite3", "-cmd", ".timeout 5000", Self.database], input: statement)
    }

    /// Inserts a row as the producer and returns its id.
    func insert(_ columns: [String: String]) throws -> Int64 {
        let keys = columns.keys.sorted()
        let values = keys.map { "'" + columns[$0]!.replacingOccurrences(of: "'", with: "''") + "'" }
        let result = try sql("INSERT INTO deployments (\(keys.joined(separator: ", "))) VALUES (\(values.joined(separator: ", "))); SELECT last_insert_rowid();")
        guard result.succeeded, let id = Int64(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CommandError(command: ["sqlite3", "INSERT"], result: result)
        }
        return id
    }

    func column(_ id: Int64, _ name: String) throws -> String {
        try box.run("sqlite3", "-cmd", ".timeout 5000", Self.database, "SELECT \(name) FROM deployments WHERE id = \(id)")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Waits until the row is in one of `states`; returns the state it ended in (check it).
    @discardableResult
    func waitForState(_ id: Int64, _ states: Set<String>, timeout: Duration = .seconds(40)) -> String {
        var state = ""
        box.wait(timeout: timeout) {
            state = (try? column(id, "state")) ?? ""
            return states.contains(state)
        }
        return state
    }

    // MARK: the simulator's control API (inside the box's network namespace)

    @discardableResult
    func simulator(_ method: String, _ path: String, _ body: String? = nil) throws -> [String: Any] {
        var command = ["curl", "-sS", "--fail-with-body", "--max-time", "10", "-X", method]
        if let body { command += ["-H", "Content-Type: application/json", "--data-binary", body] }
        let result = try box.exec(command + ["http://127.0.0.1:8090\(path)"])
        guard result.succeeded else { throw CommandError(command: command, result: result) }
        return (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    /// Moves a change to Implement (approved, window open), as a change manager would.
    func implement(_ number: String) throws {
        try simulator("POST", "/_sim/changes/\(number)/state", #"{"state": -1}"#)
    }

    // MARK: unit and journal

    func show(_ properties: [String]) throws -> [String: String] {
        try box.show("changegate.service", properties)
    }

    /// The manager's own log lines about changegate.service (debug level shows each notify message).
    func managerLog() throws -> [String] {
        try box.run("journalctl", "--no-pager", "-o", "cat", "_PID=1", "UNIT=changegate.service")
            .split(separator: "\n").map(String.init)
    }

    /// The daemon's entries matching `matches` (`journalctl -u changegate …`), waiting until `until` holds.
    func entries(_ matches: [String], timeout: Duration = .seconds(10),
                 until done: ([[String: String]]) -> Bool = { !$0.isEmpty }) -> [[String: String]] {
        var found: [[String: String]] = []
        box.wait(timeout: timeout) {
            found = (try? box.journal(["-u", "changegate"] + matches)) ?? []
            return done(found)
        }
        return found
    }

    /// `KEY=value` lines of a file in the box, as a dictionary.
    func environmentFile(_ path: String) throws -> [String: String] {
        var values: [String: String] = [:]
        for line in try box.run("cat", path).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return values
    }

    /// The NUL-separated environment of a process in the box.
    func processEnvironment(_ pid: String) throws -> [String: String] {
        let text = try box.run("sh", "-c", "tr '\\0' '\\n' < /proc/$1/environ", "sh", pid)
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return values
    }

    /// Sets systemd's log level inside the box (debug logs every notify message the daemon sends).
    func managerLogLevel(_ level: String) throws {
        try box.run("systemctl", "log-level", level)
    }
}
