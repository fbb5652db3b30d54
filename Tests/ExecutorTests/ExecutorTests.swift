import Foundation
import Synchronization
import Testing
@testable import Executor

@Suite struct ExecutorTests {
    @Test func streamsStdoutAndStderrLinesAndExitCode() async throws {
        let lines = Lines()
        let result = try await GuardedRun.run(sh("echo one; echo two >&2; printf 'no newline'; exit 3"),
                                              timeout: nil, killGrace: .seconds(1), stop: StopTrigger(),
                                              onSpawn: release, onOutput: lines.append)
        #expect(result.termination == .exited(3))
        #expect(!result.timedOut && !result.stopped)
        #expect(Set(lines.all) == ["stdout: one", "stderr: two", "stdout: no newline"])
    }

    @Test func childSeesOnlyTheGivenEnvironment() async throws {
        setenv("CHANGEGATE_TEST_SECRET", "hunter2", 1)
        let lines = Lines()
        _ = try await GuardedRun.run(sh("env | sort", env: ["A_VAR": "x y"]), timeout: nil, killGrace: .seconds(1),
                                     stop: StopTrigger(), onSpawn: release, onOutput: lines.append)
        let env = lines.all.filter { !$0.hasPrefix("stdout: PWD=") && !$0.hasPrefix("stdout: SHLVL=") && !$0.hasPrefix("stdout: _=") }
        #expect(env == ["stdout: A_VAR=x y", "stdout: PATH=/usr/bin:/bin"])
        #expect(!lines.all.contains { $0.contains("hunter2") })
    }

    @Test func runsInItsOwnProcessGroupAndStopKillsTheWholeGroup() async throws {
        let stop = StopTrigger()
        let pids = Mutex<[pid_t]>([])
        let lines = Lines()
        async let result = GuardedRun.run(sh("sleep 300 & echo $!; wait"), timeout: nil, killGrace: .seconds(2), stop: stop,
                                          onSpawn: { identity in pids.withLock { $0.append(identity.pid) }; return true },
                                          onOutput: lines.append)
        let grandchild = try #require(await firstLinePids(lines)?.first)
        defer { kill(grandchild, SIGKILL) }
        let child = pids.withLock { $0[0] }
        #expect(getpgid(child) == child, "the child leads its own process group")
        #expect(getpgid(grandchild) == child)
        stop.fire()
        let r = try await result
        #expect(r.stopped && !r.timedOut && r.released)
        #expect(r.termination == .signaled(SIGTERM))
        #expect(await eventually { !alive(grandchild) }, "the grandchild was signalled with the group")
    }

    @Test func timeoutEscalatesToSigkillAfterGrace() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await GuardedRun.run(sh("trap '' TERM; echo ready; while true; do sleep 0.05; done"),
                                              timeout: .milliseconds(300), killGrace: .milliseconds(500),
                                              stop: StopTrigger(), onSpawn: release, onOutput: { _, _ in })
        #expect(result.timedOut)
        #expect(result.termination == .signaled(SIGKILL))
        #expect(clock.now - start >= .milliseconds(750))
    }

    @Test(arguments: ["/nonexistent/deploy", "changegate-no-such-deploy"])
    func missingCommandIsATypedErrorAndNothingIsSpawned(command: String) async throws {
        let spawned = Locked(false)
        let error = await #expect(throws: ExecutorError.self) {
            _ = try await GuardedRun.run(CommandSpec(arguments: [command], environment: ["PATH": "/usr/bin:/bin"]),
                                         timeout: nil, killGrace: .seconds(1), stop: StopTrigger(),
                                         onSpawn: { _ in spawned.set(true); return true }, onOutput: { _, _ in })
        }
        guard case .commandNotFound(command) = error else {
            Issue.record("expected commandNotFound, got \(String(describing: error))")
            return
        }
        #expect(!spawned.get)
    }

    @Test func longLinesAreSplitAndInvalidUTF8IsRepaired() async throws {
        let lines = Lines()
        _ = try await GuardedRun.run(sh("head -c 40000 /dev/zero | tr '\\0' a; echo; printf '\\377ok\\n'"),
                                     timeout: nil, killGrace: .seconds(1), stop: StopTrigger(),
                                     onSpawn: release, onOutput: lines.append)
        let out = lines.all
        #expect(out.count == 4)
        #expect(out[0].count == "stdout: ".count + LineSplitter.maxLineBytes)
        #expect(out[3] == "stdout: \u{FFFD}ok")
    }

    @Test func workingDirectoryIsApplied() async throws {
        let lines = Lines()
        var spec = sh("pwd")
        spec.workingDirectory = "/tmp"
        _ = try await GuardedRun.run(spec, timeout: nil, killGrace: .seconds(1), stop: StopTrigger(),
                                     onSpawn: release, onOutput: lines.append)
        #expect(lines.all == ["stdout: /tmp"])
    }

    @Test func aMissingWorkingDirectoryIsATypedError() async throws {
        var spec = sh("true")
        spec.workingDirectory = "/nonexistent/changegate-workdir"
        let error = await #expect(throws: ExecutorError.self) {
            _ = try await GuardedRun.run(spec, timeout: nil, killGrace: .seconds(1), stop: StopTrigger(),
                                         onSpawn: release, onOutput: { _, _ in })
        }
        guard case .spawnFailed(_, let reason) = error else {
            Issue.record("expected spawnFailed, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("/nonexistent/changegate-workdir"))
    }
}
