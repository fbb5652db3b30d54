import Foundation
import Logging
import Testing

import Daemon
@testable import Systemd
import TestSupport

enum JournalProbe {
    static let socket = "/run/systemd/journal/socket"

    /// Why entries cannot be sent and read back here, or nil.
    static let unavailableReason: String? = {
        guard FileManager.default.fileExists(atPath: socket) else {
            return "no journald here (\(socket) does not exist); SystemdBoxTests runs this inside a box"
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/journalctl") else { return "journalctl not installed" }
        guard getuid() == 0 else { return "reading the journal back needs root" }
        return nil
    }()
}

@Suite(.ownThreads) struct JournalReadBackTests {
    /// Sends entries through the real handler and finds them with journalctl by a unique field.
    @Test func entriesAreReadBackWithTheirFields() throws {
        if let reason = JournalProbe.unavailableReason { try Test.cancel(Comment(rawValue: reason)) }
        let run = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        var logger = Logger(label: "changegate.test") {
            JournalLogHandler(label: $0, identifier: "changegate-test", logLevel: .trace)
        }
        logger[metadataKey: "test_run"] = .string(run)
        logger.error("deploy failed", metadata: [
            "task_id": "42", "project": "web-shop", "output": "line 1\nline 2",
            "message_id": MessageID.deploymentFinished.metadataValue,
        ])
        logger.debug("second entry")

        var entries: [[String: String]] = []
        for _ in 0..<50 where entries.count < 2 {
            let result = try runCommand(["/usr/bin/journalctl", "--no-pager", "-o", "json", "--all", "TEST_RUN=\(run)"])
            entries = result.stdout.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?.compactMapValues { $0 as? String }
            }
            if entries.count < 2 { Thread.sleep(forTimeInterval: 0.1) }
        }
        try #require(entries.count == 2, "entries with TEST_RUN=\(run) not found")
        let failed = try #require(entries.first { $0["MESSAGE"] == "deploy failed" })
        #expect(failed["PRIORITY"] == "3")
        #expect(failed["SYSLOG_IDENTIFIER"] == "changegate-test")
        #expect(failed["TASK_ID"] == "42")
        #expect(failed["PROJECT"] == "web-shop")
        #expect(failed["OUTPUT"] == "line 1\nline 2")
        #expect(failed["MESSAGE_ID"] == MessageID.deploymentFinished.hex)
        #expect(failed["CODE_FILE"]?.hasSuffix("JournalLiveTests.swift") == true)
        #expect(failed["LOGGER"] == "changegate.test")
        #expect(entries.contains { $0["MESSAGE"] == "second entry" && $0["PRIORITY"] == "7" })
    }
}

/// Behaves like the daemon when it is the ExecStart of the real changegate.service inside a box
/// (SystemdBoxTests sets CHANGEGATE_SYSTEMD_PROBE_RUN); skipped everywhere else.
///
/// Modes (CHANGEGATE_SYSTEMD_PROBE_MODE): `healthy` logs, notifies READY and runs the WatchdogService with a
/// beating heartbeat for 5 s, then exits 0; `stall` never beats, so pings stop and systemd must restart it.
@Suite(.ownThreads) struct InsideUnitProbe {
    @Test func actsAsTheDaemonInsideTheBoxUnit() async throws {
        guard let run = ProcessInfo.processInfo.environment["CHANGEGATE_SYSTEMD_PROBE_RUN"] else {
            try Test.cancel("only runs as ExecStart of changegate.service inside the systemd box (SystemdBoxTests)")
        }
        let mode = ProcessInfo.processInfo.environment["CHANGEGATE_SYSTEMD_PROBE_MODE"] ?? "healthy"
        let notifier = SystemdNotifier()
        var logger = Logger(label: "changegate.probe") {
            LoggingSetup.makeHandler(label: $0, identifier: "changegate", level: .debug)
        }
        logger[metadataKey: "test_run"] = .string(run)
        #expect(notifier.isActive, "NOTIFY_SOCKET missing")
        #expect(LoggingSetup.detectDestination() == .journal, "stderr should be the journal stream")
        let interval = try #require(notifier.watchdogInterval, "WATCHDOG_USEC missing")
        let credentials = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"].flatMap {
            try? String(contentsOfFile: $0 + "/changegate_servicenow-default-client-secret", encoding: .utf8)
        }
        logger.info("probe started", metadata: [
            "task_id": "42", "project": "web-shop", "environment": "Production",
            "message_id": MessageID.daemonStarted.metadataValue, "deploy_output": "first line\nsecond line",
            "watchdog_usec": "\(SystemdNotifier.microseconds(interval))",
            "credential": .string(credentials?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "none"),
            "state_writable": "\(FileManager.default.createFile(atPath: "/var/lib/changegate/probe", contents: Data()))",
        ])
        logger.warning("probe warning")
        #expect(notifier.ready(status: "probe \(run) running"))

        let heartbeat = ProgressHeartbeat()
        let watchdog = WatchdogService(heartbeat: heartbeat, notifier: notifier, logger: logger, stalledMessageID: .schedulerStalled)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await watchdog.run() }
            let end = ContinuousClock.now + (mode == "stall" ? .seconds(60) : .seconds(5))
            while ContinuousClock.now < end {
                if mode != "stall" { heartbeat.beat() }
                try await Task.sleep(for: .milliseconds(200))
            }
            group.cancelAll()
        }
        notifier.stopping(status: "probe \(run) done")
        logger.notice("probe finished", metadata: ["beats": "\(heartbeat.beatCount)"])
    }
}
