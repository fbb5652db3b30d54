import Foundation
import Testing

import Daemon
@testable import Systemd

// Nested in SystemdBoxTests, whose .serialized trait then covers it: one box at a time (2 cores, watchdog timings).
extension SystemdBoxTests {
    /// The real `changegate` binary under the shipped `changegate.service` (test paths and timings in a drop-in),
    /// in systemd 252 booted as PID 1 of a private box, with a real journald and the ServiceNow simulator in the
    /// same box. One box per test; each ends checking that nothing of the box is left on the host.
    @Suite(.serialized) struct DaemonServiceTests {
        /// What systemd hands the daemon (notify socket, watchdog, sockets, journal stream, credentials): none of it
        /// may reach a deploy child, which must not ping the daemon's watchdog or claim its sockets.
        static let systemdHandOffVariables = [
            "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
            "JOURNAL_STREAM", "INVOCATION_ID", "CREDENTIALS_DIRECTORY", "MAINPID", "MANAGERPID", "SYSTEMD_EXEC_PID",
            "MONITOR_SERVICE_RESULT", "MONITOR_EXIT_CODE", "MONITOR_EXIT_STATUS", "MONITOR_INVOCATION_ID", "MONITOR_UNIT",
            "TRIGGER_UNIT", "TRIGGER_PATH", "TRIGGER_TIMER_REALTIME_USEC", "TRIGGER_TIMER_MONOTONIC_USEC",
        ]

        /// READY=1 and STATUS=, the database modes for producers, one task's story and one change's deployments in
        /// the journal, secrets only through $CREDENTIALS_DIRECTORY, and a deploy child without systemd's variables.
        @Test func runsAsNotifyServiceAndLogsEachTaskToTheJournal() throws {
            try SystemdBox.requireAvailable()
            let d = try DaemonBox.start()
            defer { d.finish() }

            // `systemctl start` returned: systemd got READY=1 (Type=notify). STATUS= is what `systemctl status` shows.
            let unit = try d.show(["ActiveState", "SubState", "StatusText", "Type", "MainPID", "NRestarts"])
            #expect(unit["ActiveState"] == "active" && unit["SubState"] == "running", "\(unit)")
            #expect(unit["Type"] == "notify")
            #expect(unit["StatusText"] == "0 awaiting approval, 0 executing, 0 creating change, 0 queued")
            let status = try d.box.systemctl("status", "changegate")
            #expect(status.stdout.contains(#"Status: "0 awaiting approval, 0 executing"#), "\(status)")
            let ready = d.entries(["MESSAGE_ID=\(MessageID.daemonStarted.hex)"])
            #expect(ready.first?["MESSAGE"] == "changegate is ready")
            // libdispatch may renice its workers (LimitNICE= in the unit allows it): no complaint at start. systemd
            // can raise that limit only with CAP_SYS_RESOURCE, which some container hosts withhold.
            if (try? runCommand(["/usr/bin/prlimit", "--nice=24", "/bin/true"]))?.succeeded == true {
                let startLog = try d.box.run("journalctl", "--no-pager", "-o", "cat", "-u", "changegate.service")
                #expect(!startLog.contains("Failed to set thread priority"), "\(startLog)")
            }

            // Producers in group changegate write the queue; the files allow exactly that.
            let first = try d.insert(["project": "web", "environment": "Production", "release": "1.0", "requested_by": "alice"])
            let modes = try d.box.run("sh", "-c", "cd /var/lib/changegate && stat -c '%a %U %G %n' . changegate.db changegate.db-wal changegate.db-shm")
            #expect(modes == """
                2770 changegate changegate .
                660 changegate changegate changegate.db
                660 changegate changegate changegate.db-wal
                660 changegate changegate changegate.db-shm

                """, "\(modes)")
            let outsider = try d.sql("SELECT count(*) FROM deployments;", as: DaemonBox.outsider)
            #expect(!outsider.succeeded, "a user outside group changegate must not read the queue: \(outsider)")

            // A change-controlled deployment: change created, approved (moved to Implement), deployed.
            #expect(d.waitForState(first, ["awaiting_approval"]) == "awaiting_approval")
            let number = try d.column(first, "change_number")
            #expect(number.hasPrefix("CHG"), "\(number)")
            #expect(d.box.wait { (try? d.show(["StatusText"]))?["StatusText"]?.hasPrefix("1 awaiting approval") == true },
                    "STATUS= follows the counts: \(String(describing: try? d.show(["StatusText"])))")
            try d.implement(number)
            #expect(d.waitForState(first, ["succeeded", "failed"]) == "succeeded")
            // A second deployment under the same change (given by number): CHANGE_NUMBER= finds both.
            let second = try d.insert(["project": "web", "environment": "Production", "release": "1.0", "change_number": number])
            #expect(d.waitForState(second, ["succeeded", "failed"]) == "succeeded")

            // `journalctl -u changegate TASK_ID=…`: the whole story of the first task, with its fields.
            let story = d.entries(["TASK_ID=\(first)"]) { entries in entries.contains { $0["TASK_STATE"] == "succeeded" } }
            let ids = Set(story.compactMap { $0["MESSAGE_ID"] })
            for (name, id) in [("taskStateChanged", MessageID.taskStateChanged), ("changeCreated", .changeCreated),
                               ("changeApproved", .changeApproved), ("deploymentStarted", .deploymentStarted),
                               ("deploymentFinished", .deploymentFinished), ("deployOutput", .deployOutput)] {
                #expect(ids.contains(id.hex), "no \(name) entry for task \(first): \(story.map { $0["MESSAGE"] ?? "" })")
            }
            for entry in story {
                #expect(entry["TASK_ID"] == "\(first)")
                #expect(entry["SYSLOG_IDENTIFIER"] == "changegate")
                #expect(entry["_SYSTEMD_UNIT"] == "changegate.service")
                #expect(entry["PRIORITY"].flatMap(Int.init).map { (0...7).contains($0) } == true, "\(entry)")
                #expect(entry["CODE_FILE"]?.hasSuffix(".swift") == true && entry["CODE_LINE"].flatMap(Int.init) != nil
                        && entry["CODE_FUNC"]?.isEmpty == false, "\(entry)")
                #expect(entry["MESSAGE"]?.isEmpty == false && entry["MESSAGE_ID"]?.count == 32, "\(entry)")
                #expect(entry["PROJECT"] == "web" && entry["ENVIRONMENT"] == "Production" && entry["RELEASE"] == "1.0", "\(entry)")
                #expect(entry["TASK_STATE"] != nil, "\(entry)")
            }
            let created = try #require(story.first { $0["MESSAGE_ID"] == MessageID.changeCreated.hex })
            #expect(created["CHANGE_NUMBER"] == number)
            let done = try #require(story.first { $0["TASK_STATE"] == "succeeded" })
            #expect(done["OUTCOME"] == "succeeded" && done["CHANGE_NUMBER"] == number && done["PRIORITY"] == "6", "\(done)")
            let output = story.filter { $0["MESSAGE_ID"] == MessageID.deployOutput.hex }
            // Each stream's lines keep their order; stdout and stderr are two pipes read side by side, so lines
            // written close together on both may reach the journal either way round.
            #expect(output.filter { $0["STREAM"] == "stdout" }.map { $0["MESSAGE"] ?? "" } == ["deploying web 1.0 to Production change=\(number)"],
                    "the child's stdout: \(output)")
            #expect(output.filter { $0["STREAM"] == "stderr" }.map { $0["MESSAGE"] ?? "" } == ["finished 1.0"],
                    "the child's stderr: \(output)")
            #expect(output.count == 2, "\(output)")
            #expect(output.allSatisfy { $0["CHANGE_NUMBER"] == number }, "\(output)")

            // `journalctl CHANGE_NUMBER=…`: every deployment of the change, including their output.
            let byChange = try d.box.journal(["CHANGE_NUMBER=\(number)"])
            #expect(Set(byChange.compactMap { $0["TASK_ID"] }) == ["\(first)", "\(second)"])
            #expect(byChange.filter { $0["MESSAGE_ID"] == MessageID.deploymentFinished.hex }.count == 2)
            #expect(byChange.contains { $0["TASK_ID"] == "\(second)" && $0["MESSAGE_ID"] == MessageID.deployOutput.hex })

            // Secrets: the daemon logged in to the simulator (the change exists), so it read them; only systemd can
            // read /etc/changegate/credentials (0700 root), so they came through $CREDENTIALS_DIRECTORY.
            let mainPID = try #require(unit["MainPID"])
            let daemonEnvironment = try d.processEnvironment(mainPID)
            let credentials = try #require(daemonEnvironment["CREDENTIALS_DIRECTORY"])
            let delivered = try d.box.run("sh", "-c", "cd \"$1\" && stat -c '%n %a %U' *", "sh", credentials)
            #expect(delivered.contains("changegate_servicenow-sim-client-secret 400 changegate")
                    && delivered.contains("changegate_servicenow-sim-password 400 changegate"), "\(delivered)")
            let credentialsDirectory = try d.box.run("stat", "-c", "%a %U", "/etc/changegate/credentials")
            #expect(credentialsDirectory == "700 root\n")
            let leak = try d.box.exec(["sh", "-c", "journalctl -o export | grep -a -c -F -e \"$1\" -e \"$2\""]
                                      + ["sh"] + DaemonBox.secrets)
            #expect(leak.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "secrets in the journal: \(leak)")

            // The deploy child: none of systemd's per-service variables, no secrets, its own CHANGEGATE_* ones.
            #expect(daemonEnvironment["NOTIFY_SOCKET"] != nil && daemonEnvironment["WATCHDOG_USEC"] == "\(DaemonBox.watchdogSeconds * 1_000_000)",
                    "the daemon itself has them (else the check below proves nothing): \(daemonEnvironment.keys.sorted())")
            let child = try d.environmentFile("/var/lib/changegate/child-env-\(first)")
            for name in Self.systemdHandOffVariables {
                #expect(child[name] == nil, "\(name) reached the deploy child")
            }
            #expect(!child.values.contains { value in DaemonBox.secrets.contains { value.contains($0) } }, "\(child)")
            #expect(child["CHANGEGATE_TASK_ID"] == "\(first)" && child["CHANGEGATE_CHANGE_NUMBER"] == number, "\(child)")

            #expect(try d.show(["NRestarts"])["NRestarts"] == "0", "no watchdog restart while healthy")
        }

        /// `systemctl reload` (SIGHUP): RELOADING=1, the new file in force, READY=1; a bad file is reported and the
        /// running config kept. Then `systemctl stop` during a deployment drains it: the task succeeds, the unit
        /// ends inactive (not failed), although the deployment outlasts TimeoutStopSec= (EXTEND_TIMEOUT_USEC=).
        @Test func reloadsItsConfigAndDrainsADeploymentOnStop() throws {
            try SystemdBox.requireAvailable()
            let d = try DaemonBox.start()
            defer { d.finish() }
            try d.managerLogLevel("debug")
            let mainPID = try #require(try d.show(["MainPID"])["MainPID"])

            try d.box.run("sh", "-c", "cat >> /etc/changegate/changegate.toml", input: """

                [projects.api]
                command = ["\(DaemonBox.deployScript)"]
                kill_grace = "2s"
                """)
            try d.box.run("systemctl", "reload", "changegate")
            let reloaded = d.entries(["MESSAGE_ID=\(MessageID.configReloaded.hex)"])
            #expect(reloaded.count == 1, "\(reloaded)")
            let notices = { (try? d.managerLog().filter { $0.contains("Got notification message from PID \(mainPID)") }) ?? [] }
            #expect(d.box.wait { notices().contains { $0.contains("(READY=1)") } })
            let reloading = notices().firstIndex { $0.contains("RELOADING=1") }
            let readyAgain = notices().lastIndex { $0.contains("(READY=1)") }
            #expect(reloading != nil && readyAgain != nil && reloading! < readyAgain!, "RELOADING=1 then READY=1: \(notices())")
            let api = try d.insert(["project": "api", "environment": "Test", "release": "2.0"])
            #expect(d.waitForState(api, ["succeeded", "failed"]) == "succeeded", "the reloaded config knows project api")

            try d.box.run("sh", "-c", "cp /etc/changegate/changegate.toml /tmp/good.toml && echo '[projects.broken' >> /etc/changegate/changegate.toml")
            // ExecReload= checks the file first: the reload fails visibly and no SIGHUP is sent.
            let refused = try d.box.exec(["systemctl", "reload", "changegate"])
            #expect(!refused.succeeded, "a bad file fails `systemctl reload`")
            let checkLog = (try? d.box.run("journalctl", "--no-pager", "-o", "cat", "-u", "changegate.service")) ?? ""
            #expect(checkLog.contains("/etc/changegate/changegate.toml") && checkLog.contains("fix:"), "\(checkLog.suffix(2000))")
            // A SIGHUP that reaches the daemon anyway (kill -HUP) is reported and the running config kept.
            try d.box.run("systemctl", "kill", "--kill-who=main", "--signal=HUP", "changegate")
            let failed = d.entries(["PRIORITY=3"]) { $0.contains { $0["MESSAGE"]?.hasPrefix("Configuration reload failed") == true } }
            let report = failed.first { $0["MESSAGE"]?.hasPrefix("Configuration reload failed") == true }
            #expect(report?["MESSAGE"]?.contains("/etc/changegate/changegate.toml") == true, "\(failed)")
            #expect(report?["MESSAGE"]?.contains("keeping the running configuration") == true)
            let after = try d.show(["ActiveState", "SubState", "MainPID"])
            #expect(after == ["ActiveState": "active", "SubState": "running", "MainPID": mainPID])
            let again = try d.insert(["project": "api", "environment": "Test", "release": "2.1"])
            #expect(d.waitForState(again, ["succeeded", "failed"]) == "succeeded", "the running config was kept")
            try d.box.run("cp", "/tmp/good.toml", "/etc/changegate/changegate.toml")

            // Stop while a deployment runs for 8 s; TimeoutStopSec=4s in the drop-in.
            let draining = try d.insert(["project": "api", "environment": "Test", "release": "3.0", "variables": #"{"DEPLOY_SLEEP":"8"}"#])
            #expect(d.waitForState(draining, ["executing"]) == "executing")
            let childPID = try d.column(draining, "child_pid")
            let childEnvironment = try d.processEnvironment(childPID)
            #expect(childEnvironment["NOTIFY_SOCKET"] == nil && childEnvironment["WATCHDOG_USEC"] == nil
                    && childEnvironment["WATCHDOG_PID"] == nil, "the running child's environment: \(childEnvironment.keys.sorted())")
            let stopStarted = ContinuousClock.now
            let stop = try d.box.exec(["systemctl", "stop", "changegate"])
            let stopTook = ContinuousClock.now - stopStarted
            #expect(stop.succeeded, "\(stop)")
            #expect(stopTook > .seconds(4), "the stop waited for the deployment (took \(stopTook))")
            #expect(stopTook < .seconds(40), "and no longer (took \(stopTook))")
            #expect(try d.show(["ActiveState"])["ActiveState"] == "inactive")
            // An inactive unit may be unloaded (then `show` reports defaults): read the manager's account instead.
            let log = notices()
            let manager = try d.managerLog()
            #expect(manager.contains { $0.contains("Main process exited, code=exited, status=0/SUCCESS") }, "\(manager.suffix(20))")
            #expect(manager.contains { $0.contains("Deactivated successfully") }, "\(manager.suffix(20))")
            #expect(!manager.contains { $0.contains("timed out") || $0.contains("SIGKILL") || $0.contains("Failed with result") },
                    "\(manager.suffix(20))")
            #expect(try d.column(draining, "state") == "succeeded")
            #expect(try d.column(draining, "outcome") == "not_change_controlled")
            #expect(try d.column(draining, "exit_code") == "0")
            #expect(log.contains { $0.contains("STOPPING=1") }, "\(log)")
            #expect(log.contains { $0.contains("EXTEND_TIMEOUT_USEC=") }, "\(log)")
            #expect(!d.entries(["MESSAGE_ID=\(MessageID.daemonStopping.hex)"]).isEmpty)
            let finishedLine = d.entries(["TASK_ID=\(draining)", "MESSAGE_ID=\(MessageID.deployOutput.hex)"]) { $0.count >= 2 }
            #expect(finishedLine.last?["MESSAGE"] == "finished 3.0", "\(finishedLine)")
        }

        /// A hung scheduler loop (test-only `daemon.test_hang_file`) stops the WATCHDOG=1 pings; systemd kills and
        /// restarts the daemon; the waiting task resumes and succeeds, the one that was executing fails as
        /// interrupted (never re-run).
        @Test func hungLoopIsRestartedByTheWatchdogAndTasksRecover() throws {
            try SystemdBox.requireAvailable()
            let d = try DaemonBox.start()
            defer { d.finish() }
            let waiting = try d.insert(["project": "web", "environment": "Production", "release": "5.0"])
            let running = try d.insert(["project": "web", "environment": "Test", "release": "5.0", "variables": #"{"DEPLOY_SLEEP":"300"}"#])
            #expect(d.waitForState(waiting, ["awaiting_approval"]) == "awaiting_approval")
            #expect(d.waitForState(running, ["executing"]) == "executing")
            let number = try d.column(waiting, "change_number")
            let childPID = try d.column(running, "child_pid")
            let oldPID = try #require(try d.show(["MainPID"])["MainPID"])
            try d.managerLogLevel("debug")
            let pings = { (try? d.managerLog().filter { $0.contains("Got notification message from PID \(oldPID) (WATCHDOG=1)") }.count) ?? 0 }
            #expect(d.box.wait { pings() >= 1 }, "a healthy daemon pings")

            try d.box.run("touch", DaemonBox.hangFile)
            // Remove the trigger as soon as systemd acts, so the restarted daemon does not hang again.
            let killed = d.box.wait(timeout: .seconds(30), every: .milliseconds(100)) {
                let unit = (try? d.show(["Result", "NRestarts"])) ?? [:]
                return unit["Result"] == "watchdog" || (Int(unit["NRestarts"] ?? "") ?? 0) >= 1
            }
            try d.box.run("rm", "-f", DaemonBox.hangFile)
            #expect(killed, "systemd did not act on the missing pings")
            let restarted = d.box.wait(timeout: .seconds(30)) {
                let unit = (try? d.show(["ActiveState", "NRestarts", "MainPID"])) ?? [:]
                return unit["ActiveState"] == "active" && (Int(unit["NRestarts"] ?? "") ?? 0) >= 1 && unit["MainPID"] != oldPID
            }
            #expect(restarted, "\(String(describing: try? d.show(["ActiveState", "NRestarts", "MainPID", "Result"])))")

            let manager = try d.managerLog()
            let stalled = d.entries(["MESSAGE_ID=\(MessageID.schedulerStalled.hex)"])
            #expect(stalled.first?["PRIORITY"] == "2", "the daemon says why pings stop: \(stalled)")
            let timeout = try #require(manager.firstIndex { $0.contains("Watchdog timeout") }, "\(manager.suffix(30))")
            #expect(manager[timeout...].contains { $0.contains("Killing process \(oldPID)") && $0.contains("SIGABRT") })
            let lastPing = manager.lastIndex { $0.contains("PID \(oldPID) (WATCHDOG=1)") }
            #expect(lastPing.map { $0 < timeout } ?? false, "pings stop before systemd times out")
            let withheld = try d.box.run("journalctl", "--no-pager", "-o", "cat", "_PID=1", "UNIT=changegate.service",
                                         "--since", "@\(try pingGapStart(d, oldPID: oldPID))")
            #expect(!withheld.contains("PID \(oldPID) (WATCHDOG=1)"), "no ping after the stall was logged: \(withheld)")
            try d.managerLogLevel("info")

            // Recovery: executing → failed/interrupted (its process is gone); awaiting_approval resumes.
            #expect(d.waitForState(running, ["failed", "succeeded"]) == "failed")
            #expect(try d.column(running, "outcome") == "interrupted")
            #expect(try !d.box.exec(["test", "-e", "/proc/\(childPID)"]).succeeded, "the hung daemon's deploy child is gone")
            #expect(try d.column(waiting, "state") == "awaiting_approval")
            let resumed = d.entries(["TASK_ID=\(waiting)"]) { $0.contains { $0["MESSAGE"]?.contains("resumes in awaiting_approval") == true } }
            #expect(resumed.contains { $0["MESSAGE"]?.contains("resumes in awaiting_approval") == true }, "\(resumed.map { $0["MESSAGE"] ?? "" })")
            try d.implement(number)
            #expect(d.waitForState(waiting, ["succeeded", "failed"]) == "succeeded")
            #expect(try d.column(waiting, "outcome") == "succeeded")
            #expect(d.box.wait { (try? d.show(["StatusText"]))?["StatusText"] == "0 awaiting approval, 0 executing, 0 creating change, 0 queued" })
        }

        /// `systemctl kill -s KILL --kill-whom=main`: only the daemon dies, mid-deploy. After systemd restarts it,
        /// no deploy process is alive and the row is `interrupted`, with a closing work note on the change.
        @Test func killingOnlyTheMainProcessLeavesNoDeployRunning() throws {
            try SystemdBox.requireAvailable()
            let d = try DaemonBox.start()
            defer { d.finish() }
            let id = try d.insert(["project": "web", "environment": "Production", "release": "6.0", "variables": #"{"DEPLOY_SLEEP":"300"}"#])
            #expect(d.waitForState(id, ["awaiting_approval"]) == "awaiting_approval")
            let number = try d.column(id, "change_number")
            try d.implement(number)
            #expect(d.waitForState(id, ["executing"]) == "executing")
            #expect(d.box.wait { ((try? d.column(id, "child_pid")) ?? "").isEmpty == false })
            let childPID = try d.column(id, "child_pid")
            let oldPID = try #require(try d.show(["MainPID"])["MainPID"])
            try d.box.run("systemctl", "kill", "--kill-whom=main", "-s", "KILL", "changegate.service")
            let restarted = d.box.wait(timeout: .seconds(40)) {
                let unit = (try? d.show(["ActiveState", "NRestarts", "MainPID"])) ?? [:]
                return unit["ActiveState"] == "active" && (Int(unit["NRestarts"] ?? "") ?? 0) >= 1 && unit["MainPID"] != oldPID
            }
            #expect(restarted, "\(String(describing: try? d.show(["ActiveState", "NRestarts", "MainPID", "Result"])))")
            #expect(d.waitForState(id, ["failed", "succeeded"]) == "failed")
            #expect(try d.column(id, "outcome") == "interrupted")
            #expect(try d.column(id, "reason").contains("will not be re-run"))
            #expect(try !d.box.exec(["test", "-e", "/proc/\(childPID)"]).succeeded, "the deploy process is gone")
            let processes = try d.box.run("ps", "-eo", "args")
            #expect(!processes.contains("DEPLOY_SLEEP") && !processes.contains("sleep 300"), "\(processes)")
            let change = try d.simulator("GET", "/_sim/changes/\(number)")
            let notes = (change["work_notes"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
            #expect(notes.contains { $0.contains("outcome: interrupted") }, "\(notes)")
        }

        /// Realtime seconds of the stall entry (the daemon logs it when it withholds its first ping).
        func pingGapStart(_ d: DaemonBox, oldPID: String) throws -> String {
            let entry = try #require(d.entries(["_PID=\(oldPID)", "MESSAGE_ID=\(MessageID.schedulerStalled.hex)"]).first)
            let micros = try #require(entry["__REALTIME_TIMESTAMP"].flatMap { Int64($0) })
            return String(format: "%lld.%06lld", micros / 1_000_000, micros % 1_000_000)
        }
    }
}
