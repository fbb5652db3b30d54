import Foundation
import Testing
import TestSupport

/// No deploy command runs unsupervised: its pid is recorded before it runs, and after a crash a leftover is
/// stopped (TERM, then KILL) before its slot is free. The deploy commands here kill the daemon themselves.
@Suite(.serialized, .ownThreads) struct UnsupervisedRunTests {
    /// Starts a deployment whose command first kills the daemon (`kill -9 $PPID`), then restarts the daemon.
    static func crashDuringDeploy(_ body: String, grace: String = "2s") async throws -> (DaemonProcess, Int64, Int32, String) {
        let sim = try await SimulatorProcess()
        let d = try DaemonProcess(simulator: sim, projects: "")
        let marker = "\(d.dir)/runs"
        let deploy = try d.script("deploy.sh", "echo run >> \(marker); kill -9 $PPID; \(body)")
        try d.configure(DaemonFlowTests.project("web", command: deploy, controlled: false).replacingOccurrences(of: "kill_grace = \"2s\"", with: "kill_grace = \"\(grace)\""))
        try await d.startAndWait()
        let id = try insert(d.database, ["project": "web", "environment": "Test", "release": "1"])
        try await eventually("the deploy command to kill the daemon") { d.process?.isRunning == false }
        let pid = Int32(try d.column(id, "child_pid")) ?? 0
        #expect(pid > 0, "the pid was recorded before the command ran")
        #expect(!processGone(pid), "the deploy command outlived the daemon")
        try d.start()
        return (d, id, pid, marker)
    }

    /// Processes of the group that still run (zombies awaiting their reaper do not).
    static func runningMembers(ofGroup group: Int32) -> [Int32] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap(Int32.init) ?? []
        return pids.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && fields[0] != "Z" && Int32(fields[2]) == group
        }
    }

    @Test func aDeployThatOutlivesTheDaemonIsStoppedAfterTheRestartAndNeverReRun() async throws {
        let (d, id, pid, marker) = try await Self.crashDuringDeploy("sleep 300")
        defer { kill(-pid, SIGKILL) }
        #expect(try await d.waitForTerminal(id) == "failed")
        #expect(try d.column(id, "outcome") == "interrupted")
        #expect(try d.column(id, "reason").contains("stopped with SIGTERM"))
        #expect(processGone(pid))
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "run\n", "never re-run")
    }

    @Test func aLeftoverThatIgnoresTermIsKilledAfterTheGrace() async throws {
        let (d, id, pid, _) = try await Self.crashDuringDeploy("trap '' TERM; while true; do sleep 0.1; done")
        defer { kill(-pid, SIGKILL) }
        #expect(try await d.waitForTerminal(id) == "failed")
        #expect(try d.column(id, "reason").contains("ignored SIGTERM and was killed with SIGKILL"))
        #expect(processGone(pid))
        #expect(Self.runningMembers(ofGroup: pid).isEmpty, "no member of its process group runs")
    }

    /// A guard armed for the next deployment in line (the only slot taken) is spawned before its row leaves
    /// `queued`. The daemon is killed with SIGKILL while it waits: the guard exits without running anything, and
    /// after the restart the deployment runs exactly once.
    @Test func anArmedGuardOfAKilledDaemonNeverRunsItsCommandAndTheDeploymentRunsOnceLater() async throws {
        let d = try DaemonProcess(simulator: nil, projects: "")
        let marker = "\(d.dir)/runs"
        let deploy = try d.script("deploy.sh", "echo \"$CHANGEGATE_TASK_ID\" >> \(marker); [ \"$CHANGEGATE_TASK_ID\" = 1 ] && sleep 300; true")
        try d.configure(DaemonFlowTests.project("web", command: deploy, controlled: false, extra: "max_concurrent = 1"))
        try await d.startAndWait()
        let first = try insert(d.database, ["project": "web", "environment": "Test", "release": "1"])
        _ = try await d.waitForState(first, ["executing"])
        let firstPID = Int32(try d.column(first, "child_pid")) ?? 0
        defer { if firstPID > 0 { kill(-firstPID, SIGKILL) } }
        let second = try insert(d.database, ["project": "web", "environment": "Test", "release": "2"])
        var armed: Int32 = 0
        try await eventually("the second deployment's guard armed") {
            armed = Self.guardHolding(task: second) ?? 0
            return armed > 0
        }
        #expect(try d.state(second) == "queued", "armed while its row is still queued")
        d.kill9()
        try await eventually("the armed guard to exit with its pipe closed") { processGone(armed) }
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "1\n", "the second deployment did not run")
        try d.start()
        #expect(try await d.waitForTerminal(first) == "failed", "the first one's leftover is stopped")
        #expect(try await d.waitForTerminal(second) == "succeeded")
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "1\n2\n", "the second ran once, after the restart")
    }

    /// The pid of a changegate guard still holding task `id`'s command (found by its argv and environment).
    static func guardHolding(task id: Int64) -> Int32? {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap(Int32.init) ?? []
        for pid in pids {
            guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: cmdline, as: UTF8.self).contains("changegate-guard"),
                  let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            if environ.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == "CHANGEGATE_TASK_ID=\(id)" }) { return pid }
        }
        return nil
    }
}
