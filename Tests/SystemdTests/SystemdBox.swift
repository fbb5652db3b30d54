import Foundation
import Synchronization
import Testing

/// Swift face of `Tests/SystemdBox/systemd-box`: systemd 252 as PID 1 of private namespaces, driven with real
/// `systemctl`/`journalctl`. Start one per test, `stop()` it in a `defer`, then `#expect(try box.checkClean())`.
///
///     let box = try SystemdBox.start(units: ["x.service": "…"], binds: [.init("/host/bin", "/usr/local/bin/x")])
///     defer { try? box.stop() }
///     try box.systemctl("start", "x")
///     let state = try box.show("x.service", ["ActiveState", "SubState"])
struct SystemdBox: Sendable {
    struct Bind: Sendable {
        var source: String
        var destination: String
        var readOnly: Bool
        init(_ source: String, _ destination: String, readOnly: Bool = true) {
            self.source = source
            self.destination = destination
            self.readOnly = readOnly
        }
    }

    /// The harness script (found relative to this source file).
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("SystemdBox/systemd-box").path

    let name: String
    /// Host pid of the box's PID 1 (systemd).
    let hostPID: Int32
    /// Host directory holding the unit files (removed by `stop()` when the box created it).
    let unitsDirectory: String
    private let ownsUnitsDirectory: Bool

    /// Why boxes cannot run here, or nil. Probes the exact `unshare` the harness uses.
    static let unavailableReason: String? = {
        guard getuid() == 0 else { return "systemd box needs root (uid is \(getuid()))" }
        guard FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd") else {
            return "systemd box needs /lib/systemd/systemd (apt-get install systemd)"
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return "unshare not installed" }
        let probe = try? runCommand([
            "/usr/bin/unshare", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc", "--propagation", "private",
            "--net", "--uts", "--ipc", "--cgroup", "--", "/bin/true",
        ])
        guard let probe, probe.succeeded else {
            return "cannot create namespaces for the systemd box: \(probe?.stderr ?? "unshare did not run")"
        }
        return nil
    }()

    /// Cancels (skips) the calling test with the reason when boxes cannot run here.
    static func requireAvailable() throws {
        if let reason = unavailableReason { try Test.cancel(Comment(rawValue: reason)) }
    }

    private static let counter = Counter()

    /// Boots a box with `units` (file name → contents; names may include a drop-in directory, e.g.
    /// `"x.service.d/override.conf"`), waits until the system is running, and returns it.
    static func start(
        name: String? = nil,
        units: [String: String],
        binds: [Bind] = [],
        environment: [String: String] = [:],
        timeout: Int = 90
    ) throws -> SystemdBox {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cg-box-units-\(UUID().uuidString)")
        for (file, contents) in units {
            let url = directory.appendingPathComponent(file)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try contents.write(to: url, atomically: true, encoding: .utf8)
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try start(name: name, unitsDirectory: directory.path, ownsDirectory: true, binds: binds,
                         environment: environment, timeout: timeout)
    }

    /// Boots a box with the unit files of an existing directory.
    static func start(
        name: String? = nil,
        unitsDirectory: String,
        binds: [Bind] = [],
        environment: [String: String] = [:],
        timeout: Int = 90
    ) throws -> SystemdBox {
        try start(name: name, unitsDirectory: unitsDirectory, ownsDirectory: false, binds: binds,
                  environment: environment, timeout: timeout)
    }

    private static func start(
        name: String?, unitsDirectory: String, ownsDirectory: Bool, binds: [Bind], environment: [String: String],
        timeout: Int
    ) throws -> SystemdBox {
        // Unique per process and call: several people run tests on this machine at once.
        let name = name ?? "cgtest-\(getpid())-\(counter.next())"
        var arguments = [script, "start", name, "--units", unitsDirectory, "--timeout", String(timeout)]
        for bind in binds {
            arguments += [bind.readOnly ? "--bind-ro" : "--bind", "\(bind.source):\(bind.destination)"]
        }
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) { arguments += ["--env", "\(key)=\(value)"] }
        let result = try runCommand(arguments)
        guard result.succeeded, let pid = Int32(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            if ownsDirectory { try? FileManager.default.removeItem(atPath: unitsDirectory) }
            throw CommandError(command: arguments, result: result)
        }
        return SystemdBox(name: name, hostPID: pid, unitsDirectory: unitsDirectory, ownsUnitsDirectory: ownsDirectory)
    }

    /// Runs a command inside all of the box's namespaces (as root, clean environment); never throws on a
    /// non-zero exit, check `status`.
    @discardableResult
    func exec(_ command: [String], input: String? = nil, environment: [String: String] = [:]) throws -> CommandResult {
        var arguments = [Self.script, "exec", name]
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) { arguments += ["--env", "\(key)=\(value)"] }
        return try runCommand(arguments + ["--"] + command, input: input)
    }

    /// `exec`, throwing unless the command succeeds; returns its stdout.
    @discardableResult
    func run(_ command: String..., input: String? = nil) throws -> String {
        let result = try exec(command, input: input)
        guard result.succeeded else { throw CommandError(command: command, result: result) }
        return result.stdout
    }

    @discardableResult
    func systemctl(_ arguments: String...) throws -> CommandResult {
        try exec(["systemctl", "--no-pager"] + arguments)
    }

    /// `systemctl show -p …` as a dictionary.
    func show(_ unit: String, _ properties: [String]) throws -> [String: String] {
        let output = try run("systemctl", "show", unit, "-p", properties.joined(separator: ","))
        var values: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return values
    }

    /// Journal entries matching `matches` (e.g. `["TEST_RUN=abc"]`), each as field → value (text fields only;
    /// journalctl renders binary or non-UTF-8 values as arrays, which are left out).
    func journal(_ matches: [String]) throws -> [[String: String]] {
        let result = try exec(["journalctl", "--no-pager", "-o", "json", "--all"] + matches)
        guard result.succeeded else { throw CommandError(command: ["journalctl"] + matches, result: result) }
        return result.stdout.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return object.compactMapValues { $0 as? String }
        }
    }

    /// Polls `condition` until it holds or `timeout` passes; returns its last answer.
    @discardableResult
    func wait(timeout: Duration = .seconds(20), every interval: Duration = .milliseconds(200),
              until condition: () throws -> Bool) rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: Double(interval.components.attoseconds) / 1e18 + Double(interval.components.seconds))
        }
        return try condition()
    }

    /// Powers the box off (kills PID 1 if it lingers) and removes its cgroups.
    func stop() throws {
        defer { if ownsUnitsDirectory { try? FileManager.default.removeItem(atPath: unitsDirectory) } }
        let result = try runCommand([Self.script, "stop", name])
        guard result.succeeded else { throw CommandError(command: ["systemd-box", "stop", name], result: result) }
    }

    /// True when nothing of the box is left on the host (process, mount, cgroup); the reasons are in the error.
    func checkClean() throws -> Bool {
        let result = try runCommand([Self.script, "check-clean", name])
        guard result.succeeded else { throw CommandError(command: ["systemd-box", "check-clean", name], result: result) }
        return true
    }
}

extension SystemdBox {
    /// The repository's root directory.
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The repository's systemd/ directory (unit, sysusers, tmpfiles, catalog).
    static let systemdDirectory = repository.appendingPathComponent("systemd")

    /// Boots a box with the shipped `changegate.service` (plus an optional drop-in and extra units), `binary`
    /// bound at /usr/local/bin/changegate, changegate.sysusers and changegate.tmpfiles applied, the given
    /// credential files in /etc/changegate/credentials/ and, if given, /etc/changegate/changegate.toml.
    /// The service is not started: `try box.run("systemctl", "start", "changegate")`.
    static func startChangegate(
        binary: String,
        config: String? = nil,
        dropIn: String? = nil,
        credentials: [String: String] = [:],
        extraUnits: [String: String] = [:],
        binds: [Bind] = []
    ) throws -> SystemdBox {
        func file(_ name: String) throws -> String {
            try String(contentsOf: systemdDirectory.appendingPathComponent(name), encoding: .utf8)
        }
        var units = extraUnits
        units["changegate.service"] = try file("changegate.service")
        if let dropIn { units["changegate.service.d/box.conf"] = dropIn }
        let box = try start(units: units, binds: [Bind(binary, "/usr/local/bin/changegate")] + binds)
        do {
            try box.run("sh", "-c", "mkdir -p /etc/sysusers.d && cat > /etc/sysusers.d/changegate.conf",
                        input: try file("changegate.sysusers"))
            try box.run("systemd-sysusers")
            try box.run("sh", "-c", "mkdir -p /etc/tmpfiles.d && cat > /etc/tmpfiles.d/changegate.conf",
                        input: try file("changegate.tmpfiles"))
            try box.run("systemd-tmpfiles", "--create", "changegate.conf")
            for (name, contents) in credentials {
                try box.run("sh", "-c", "umask 077 && cat > \"/etc/changegate/credentials/$1\"", "sh", name, input: contents)
            }
            if let config {
                try box.run("sh", "-c", "cat > /etc/changegate/changegate.toml", input: config)
            }
        } catch {
            try? box.stop()
            throw error
        }
        return box
    }
}

private final class Counter: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}
