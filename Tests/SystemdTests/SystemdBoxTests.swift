import Foundation
import Testing
import TestSupport

/// Real systemd 252 as PID 1 of a private box (Tests/SystemdBox/systemd-box). Serialized: each boots a box.
@Suite(.serialized, .ownThreads) struct SystemdBoxTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func uniqueRun() -> String { UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }

    /// Stops the box and asserts that nothing of it is left on the host.
    func finish(_ box: SystemdBox) {
        #expect(throws: Never.self) { try box.stop() }
        #expect(throws: Never.self) { try box.checkClean() }
    }

    @Test func notifyUnitReportsStatusAndJournalKeepsCustomFields() throws {
        try SystemdBox.requireAvailable()
        let box = try SystemdBox.start(units: [
            "notify-probe.service": """
            [Service]
            Type=notify
            ExecStart=/bin/sh -c 'systemd-notify --pid=$$$$ --ready --status="probe ready"; exec sleep infinity'
            """,
        ])
        defer { finish(box) }
        try box.run("systemctl", "start", "notify-probe.service")
        let state = try box.show("notify-probe.service", ["ActiveState", "SubState", "StatusText"])
        #expect(state == ["ActiveState": "active", "SubState": "running", "StatusText": "probe ready"])

        let run = uniqueRun()
        try box.run("logger", "--journald", input: "MESSAGE=hello from logger\nCHANGEGATE_TEST_RUN=\(run)\nTASK_ID=42\n")
        try box.run("sh", "-c", "echo plain line \(run) | systemd-cat -t cg-box-test -p warning")
        var entries: [[String: String]] = []
        box.wait { entries = (try? box.journal(["CHANGEGATE_TEST_RUN=\(run)"])) ?? []; return !entries.isEmpty }
        #expect(entries.count == 1)
        #expect(entries.first?["MESSAGE"] == "hello from logger")
        #expect(entries.first?["TASK_ID"] == "42")
        var catLines: [[String: String]] = []
        box.wait { catLines = (try? box.journal(["SYSLOG_IDENTIFIER=cg-box-test"])) ?? []; return !catLines.isEmpty }
        #expect(catLines.first?["MESSAGE"] == "plain line \(run)")
        #expect(catLines.first?["PRIORITY"] == "4")
    }

    @Test func watchdogRestartsAUnitThatStopsPinging() throws {
        try SystemdBox.requireAvailable()
        let box = try SystemdBox.start(units: [
            "stuck.service": """
            [Service]
            Type=notify
            WatchdogSec=2s
            Restart=on-failure
            RestartSec=500ms
            ExecStart=/bin/sh -c 'systemd-notify --pid=$$$$ --ready; systemd-notify --pid=$$$$ WATCHDOG=1; exec sleep infinity'
            """,
            "healthy.service": """
            [Service]
            Type=notify
            WatchdogSec=2s
            Restart=on-failure
            ExecStart=/bin/sh -c 'systemd-notify --pid=$$$$ --ready; while :; do systemd-notify --pid=$$$$ WATCHDOG=1; sleep 0.5; done'
            """,
        ])
        defer { finish(box) }
        try box.run("systemctl", "start", "stuck.service", "healthy.service")
        let restarted = box.wait(timeout: .seconds(30)) {
            Int((try? box.show("stuck.service", ["NRestarts"]))?["NRestarts"] ?? "") ?? 0 >= 1
        }
        #expect(restarted, "stuck.service was not restarted by the watchdog")
        let log = try box.run("journalctl", "--no-pager", "-o", "cat", "-u", "stuck.service")
        #expect(log.contains("Watchdog timeout"), "\(log)")
        let healthy = try box.show("healthy.service", ["ActiveState", "NRestarts"])
        #expect(healthy == ["ActiveState": "active", "NRestarts": "0"])
    }

    @Test func loadCredentialDeliversFilesToTheCredentialsDirectory() throws {
        try SystemdBox.requireAvailable()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cg-box-cred-\(uniqueRun())")
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("dir"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let secret = uniqueRun()
        try "\(secret)\n".write(to: scratch.appendingPathComponent("secret"), atomically: true, encoding: .utf8)
        try "a\n".write(to: scratch.appendingPathComponent("dir/servicenow-x-password"), atomically: true, encoding: .utf8)
        let box = try SystemdBox.start(
            units: [
                "cred.service": """
                [Service]
                Type=oneshot
                RemainAfterExit=yes
                DynamicUser=yes
                LoadCredential=token:/etc/box-test/secret
                LoadCredential=changegate:/etc/box-test/dir
                ExecStart=/bin/sh -c 'echo "token=$$(cat $$CREDENTIALS_DIRECTORY/token)"; cd $$CREDENTIALS_DIRECTORY; stat -c "%%n %%a %%U" *'
                """,
            ],
            binds: [.init(scratch.appendingPathComponent("secret").path, "/etc/box-test/secret"),
                    .init(scratch.appendingPathComponent("dir").path, "/etc/box-test/dir")]
        )
        defer { finish(box) }
        try box.run("systemctl", "start", "cred.service")
        let output = try box.run("journalctl", "--no-pager", "-o", "cat", "_SYSTEMD_UNIT=cred.service")
        #expect(output.contains("token=\(secret)"), "\(output)")
        #expect(output.contains("token 400 cred"), "\(output)")
        #expect(output.contains("changegate_servicenow-x-password 400 cred"), "\(output)")
    }

    /// The real unit (systemd/changegate.service, with its sysusers and tmpfiles) verifies cleanly, and a Swift
    /// binary using this module runs under its full sandbox: READY, watchdog pings, journald fields,
    /// credentials, writable state directory.
    @Test func realUnitRunsTheSwiftProbeUnderItsSandbox() throws {
        try SystemdBox.requireAvailable()
        let run = uniqueRun()
        let box = try startRealUnit(run: run, mode: "healthy")
        defer { finish(box) }
        try box.run("sh", "-c", "mkdir -p /tmp/verify && cp /run/systemd-box/units/changegate.service /tmp/verify/")
        let verify = try box.exec(["systemd-analyze", "verify", "/tmp/verify/changegate.service"])
        #expect(verify.succeeded && verify.stdout.isEmpty && verify.stderr.isEmpty, "\(verify)")

        try box.run("systemctl", "start", "changegate.service")  // returns once READY=1 arrived
        let unitLog = { (try? box.run("journalctl", "--no-pager", "-o", "cat", "-u", "changegate.service")) ?? "" }
        let ended = box.wait(timeout: .seconds(60)) {
            (try? box.show("changegate.service", ["ActiveState"]))?["ActiveState"] != "active"
        }
        #expect(ended, "probe did not finish: \(unitLog())")
        let state = try box.show("changegate.service", ["Result", "ExecMainStatus", "NRestarts"])
        #expect(state == ["Result": "success", "ExecMainStatus": "0", "NRestarts": "0"], "\(unitLog())")

        let entries = try box.journal(["TEST_RUN=\(run)"])
        let started = try #require(entries.first { $0["MESSAGE"] == "probe started" }, "\(unitLog())")
        #expect(started["_SYSTEMD_UNIT"] == "changegate.service")
        #expect(started["SYSLOG_IDENTIFIER"] == "changegate")
        #expect(started["PRIORITY"] == "6")
        #expect(started["TASK_ID"] == "42")
        #expect(started["ENVIRONMENT"] == "Production")
        #expect(started["MESSAGE_ID"] == "4dd2340e88c2441693f4c93069189eb3")
        #expect(started["DEPLOY_OUTPUT"] == "first line\nsecond line")
        #expect(started["CODE_FILE"]?.hasSuffix("JournalLiveTests.swift") == true)
        #expect(started["WATCHDOG_USEC"] == "2000000")
        #expect(started["CREDENTIAL"] == "box-secret-\(run)")
        #expect(started["STATE_WRITABLE"] == "true")
        #expect(entries.contains { $0["MESSAGE"] == "probe warning" && $0["PRIORITY"] == "4" })
        let finished = entries.first { $0["MESSAGE"] == "probe finished" }
        #expect((Int(finished?["BEATS"] ?? "") ?? 0) > 10, "\(unitLog())")
        let mode = try box.run("stat", "-c", "%a %U %G", "/var/lib/changegate")
        #expect(mode.contains("2770 changegate changegate"), "\(mode)")
    }

    /// A scheduler that stops beating makes WatchdogService withhold pings, and systemd restarts the daemon.
    @Test func realUnitIsRestartedWhenTheSchedulerStalls() throws {
        try SystemdBox.requireAvailable()
        let run = uniqueRun()
        let box = try startRealUnit(run: run, mode: "stall")
        defer { finish(box) }
        try box.run("systemctl", "start", "changegate.service")
        let unitLog = { (try? box.run("journalctl", "--no-pager", "-o", "cat", "-u", "changegate.service")) ?? "" }
        // Pings stop 2 s after start (no beats), systemd aborts 2 s later; allow for a slow start-up.
        let restarted = box.wait(timeout: .seconds(30)) {
            Int((try? box.show("changegate.service", ["NRestarts"]))?["NRestarts"] ?? "") ?? 0 >= 1
        }
        #expect(restarted, "\(unitLog())")
        #expect(!unitLog().contains("probe finished"), "the stalled probe must die at the watchdog, not run on")
        #expect(unitLog().contains("Watchdog timeout"), "\(unitLog())")
        let stalled = try box.journal(["TEST_RUN=\(run)", "MESSAGE_ID=e1973695d1334e1e89b71de7d83ddc63"])
        #expect(stalled.first?["PRIORITY"] == "2", "\(unitLog())")
        try box.run("systemctl", "stop", "changegate.service")
    }

    /// JournalReadBackTests needs a journald; run it as root inside a box, where one is.
    @Test func journalReadBackTestPassesInsideABox() throws {
        try SystemdBox.requireAvailable()
        // The box has its own /tmp, where CI's clone may live: bind the test binary to a fixed path instead.
        let inside = "/usr/local/libexec/changegate-tests"
        let box = try SystemdBox.start(units: [:], binds: [SystemdBox.Bind(currentExecutablePath(), inside)])
        defer { finish(box) }
        let result = try box.exec([inside, "--testing-library", "swift-testing", "--filter", "JournalReadBackTests"])
        // Swift Testing reports on stderr; a skipped (cancelled) test would also exit 0.
        let report = result.stdout + result.stderr
        #expect(result.succeeded, "\(result)")
        #expect(report.contains("Test entriesAreReadBackWithTheirFields() passed"), "\(result)")
        #expect(!report.contains("cancelled"), "\(result)")
    }

    /// The real unit with ExecStart replaced by this test binary running InsideUnitProbe (bound at
    /// /usr/local/bin/changegate, so the unit as shipped also verifies).
    func startRealUnit(run: String, mode: String) throws -> SystemdBox {
        try SystemdBox.startChangegate(
            binary: currentExecutablePath(),
            dropIn: """
            [Service]
            ExecStart=
            ExecStart=/usr/local/bin/changegate --testing-library swift-testing --filter InsideUnitProbe
            Environment=CHANGEGATE_SYSTEMD_PROBE_RUN=\(run) CHANGEGATE_SYSTEMD_PROBE_MODE=\(mode)
            WatchdogSec=2s
            RestartSec=1s
            """,
            credentials: ["servicenow-default-client-secret": "box-secret-\(run)\n"]
        )
    }
}

@Suite(.ownThreads) struct UnitFileTests {
    static let unitPath = SystemdBoxTests.repository.appendingPathComponent("systemd/changegate.service").path

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "systemd-analyze missing"))
    func securityExposureIsAtMostOnePointFive() throws {
        let result = try runCommand(["/usr/bin/systemd-analyze", "security", "--offline=yes", "--no-pager", Self.unitPath])
        let line = try #require(result.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) })
        #expect(score <= 1.5, "\(line)")
    }

    @Test func unitKeepsWhatTheDaemonReliesOn() throws {
        let lines = Set(try String(contentsOfFile: Self.unitPath, encoding: .utf8).split(separator: "\n").map(String.init))
        for setting in [
            "Type=notify", "NotifyAccess=main", "WatchdogSec=30s", "Restart=on-failure", "TimeoutStopSec=10min",
            "ExecReload=/bin/kill -HUP $MAINPID", "StateDirectory=changegate", "UMask=0007", "User=changegate",
            "ExecStart=/usr/local/bin/changegate daemon --config /etc/changegate/changegate.toml",
            "LoadCredential=changegate:/etc/changegate/credentials", "MemoryDenyWriteExecute=yes",
        ] {
            #expect(lines.contains(setting), "\(setting) missing")
        }
    }
}
