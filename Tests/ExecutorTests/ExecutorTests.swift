import Foundation
import Synchronization
import Testing
@testable import Executor

final class Lines: Sendable {
    let value = Mutex<[String]>([])
    func append(_ s: ChildStream, _ line: String) { value.withLock { $0.append("\(s.rawValue): \(line)") } }
    var all: [String] { value.withLock { $0 } }
}

private func sh(_ script: String, env: [String: String] = [:]) -> CommandSpec {
    CommandSpec(arguments: ["/bin/sh", "-c", script], environment: ["PATH": "/usr/bin:/bin"].merging(env) { $1 })
}

/// Running, not a zombie waiting for a reaper.
private func alive(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
    return !stat.contains(") Z ")
}

@Suite struct ExecutorTests {
    @Test func streamsStdoutAndStderrLinesAndExitCode() async throws {
        let lines = Lines()
        let result = try await GuardedRun.run(sh("echo one; echo two >&2; printf 'no newline'; exit 3"),
                                              timeout: nil, killGrace: .seconds(1), stop: StopTrigger(), onOutput: lines.append)
        #expect(result.termination == .exited(3))
        #expect(!result.timedOut && !result.stopped)
        #expect(Set(lines.all) == ["stdout: one", "stderr: two", "stdout: no newline"])
    }

    @Test func childSeesOnlyTheGivenEnvironment() async throws {
        setenv("CHANGEGATE_TEST_SECRET", "hunter2", 1)
        let lines = Lines()
        _ = try await GuardedRun.run(sh("env | sort", env: ["A_VAR": "x y"]), timeout: nil, killGrace: .seconds(1),
                                     stop: StopTrigger(), onOutput: lines.append)
        let env = lines.all.filter { !$0.hasPrefix("stdout: PWD=") && !$0.hasPrefix("stdout: SHLVL=") && !$0.hasPrefix("stdout: _=") }
        #expect(env == ["stdout: A_VAR=x y", "stdout: PATH=/usr/bin:/bin"])
        #expect(!lines.all.contains { $0.contains("hunter2") })
    }

    @Test func runsInItsOwnProcessGroupAndStopKillsTheWholeGroup() async throws {
        let stop = StopTrigger()
        let pids = Mutex<[pid_t]>([])
        let lines = Lines()
        async let result = GuardedRun.run(sh("sleep 300 & echo $!; wait"), timeout: nil, killGrace: .seconds(2), stop: stop,
                                          onStart: { pid in pids.withLock { $0.append(pid) } },
                                          onOutput: lines.append)
        while lines.all.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        let grandchild = pid_t(lines.all[0].dropFirst("stdout: ".count))!
        let child = pids.withLock { $0[0] }
        #expect(getpgid(child) == child, "the child leads its own process group")
        #expect(getpgid(grandchild) == child)
        stop.fire()
        let r = try await result
        #expect(r.stopped && !r.timedOut)
        #expect(r.termination == .signaled(SIGTERM))
        try await Task.sleep(for: .milliseconds(100))
        #expect(!alive(grandchild), "the grandchild was signalled with the group")
    }

    @Test func timeoutEscalatesToSigkillAfterGrace() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await GuardedRun.run(sh("trap '' TERM; echo ready; while true; do sleep 0.05; done"),
                                              timeout: .milliseconds(300), killGrace: .milliseconds(500),
                                              stop: StopTrigger(), onOutput: { _, _ in })
        #expect(result.timedOut)
        #expect(result.termination == .signaled(SIGKILL))
        #expect(clock.now - start >= .milliseconds(750))
    }

    @Test func missingCommandIsATypedError() async throws {
        await #expect(throws: ExecutorError.self) {
            _ = try await GuardedRun.run(CommandSpec(arguments: ["/nonexistent/deploy"], environment: [:]),
                                         timeout: nil, killGrace: .seconds(1), stop: StopTrigger(), onOutput: { _, _ in })
        }
    }

    @Test func longLinesAreSplitAndInvalidUTF8IsRepaired() async throws {
        let lines = Lines()
        _ = try await GuardedRun.run(sh("head -c 40000 /dev/zero | tr '\\0' a; echo; printf '\\377ok\\n'"),
                                     timeout: nil, killGrace: .seconds(1), stop: StopTrigger(), onOutput: lines.append)
        let out = lines.all
        #expect(out.count == 4)
        #expect(out[0].count == "stdout: ".count + LineSplitter.maxLineBytes)
        #expect(out[3] == "stdout: \u{FFFD}ok")
    }

    @Test func workingDirectoryIsApplied() async throws {
        let lines = Lines()
        var spec = sh("pwd")
        spec.workingDirectory = "/tmp"
        _ = try await GuardedRun.run(spec, timeout: nil, killGrace: .seconds(1), stop: StopTrigger(), onOutput: lines.append)
        #expect(lines.all == ["stdout: /tmp"])
    }
}
