import Foundation
import Testing
@testable import Executor

/// The pid handshake: nothing runs until `onSpawn` says so, and a cancelled run leaves nothing behind.
@Suite struct GuardTests {
    @Test func theCommandNeverRunsWhenOnSpawnReturnsFalse() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let seen = Locked<ChildIdentity?>(nil)
        let result = try await GuardedRun.run(sh("touch '\(dir.file("marker"))'"), timeout: nil, killGrace: .seconds(1),
                                              stop: StopTrigger(),
                                              onSpawn: { identity in seen.set(identity); return false },
                                              onOutput: { _, _ in })
        #expect(!result.released)
        #expect(result.termination == .exited(125), "the guard gave up on EOF")
        #expect(!dir.exists("marker"))
        let identity = try #require(seen.get)
        #expect(identity.bootID == ChildIdentity.currentBootID)
        #expect(identity.startTicks > 0)
    }

    @Test func releaseAfterAnAwaitedDelayRunsTheCommand() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let ranEarly = Locked(true)
        let result = try await GuardedRun.run(sh("touch '\(dir.file("marker"))'"), timeout: nil, killGrace: .seconds(1),
                                              stop: StopTrigger(),
                                              onSpawn: { identity in
                                                  // The identity is that of the process which will become the command.
                                                  #expect(ChildIdentity.of(pid: identity.pid) == identity)
                                                  #expect(getpgid(identity.pid) == identity.pid)
                                                  try? await Task.sleep(for: .milliseconds(300))
                                                  ranEarly.set(dir.exists("marker"))
                                                  return true
                                              },
                                              onOutput: { _, _ in })
        #expect(result.released)
        #expect(result.termination == .exited(0))
        #expect(!ranEarly.get, "the command waited for the release")
        #expect(dir.exists("marker"))
    }

    @Test func identityRoundTripsThroughItsRecordedForm() throws {
        let mine = try #require(ChildIdentity.of(pid: getpid()))
        #expect(ChildIdentity(recorded: mine.recorded) == mine)
        let made = ChildIdentity(pid: 4242, startTicks: 987_654_321, bootID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
        #expect(made.recorded == "pid=4242 start=987654321 boot=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
        #expect(ChildIdentity(recorded: made.recorded) == made)
        for bad in ["", "4242", "pid=4242 start=1", "pid=x start=1 boot=b", "pid=-1 start=1 boot=b",
                    "pid=1 start=1 boot=", "start=1 pid=1 boot=b", "pid=1 start=1 boot=b extra"] {
            #expect(ChildIdentity(recorded: bad) == nil, "\(bad)")
        }
        #expect(ChildIdentity.of(pid: Int32.max) == nil)
    }

    @Test func cancellingARunningRunTermsThenKillsTheGroupAndWaitsForIt() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let lines = Lines()
        // The leader notes the TERM and carries on; the grandchild ignores it. Only SIGKILL ends them.
        let script = "(trap '' TERM; exec sleep 300) & echo $$ $!; trap 'echo term >> \(dir.file("term"))' TERM; "
            + "while true; do sleep 0.05; done"
        let result = try await withThrowingTaskGroup(of: RunResult.self) { group in
            group.addTask {
                try await GuardedRun.run(sh(script), timeout: nil, killGrace: .milliseconds(500), stop: StopTrigger(),
                                         onSpawn: release, onOutput: lines.append)
            }
            let pids = try #require(await firstLinePids(lines))
            defer { kill(pids[1], SIGKILL) }
            group.cancelAll()
            let result = try #require(try await group.next())
            #expect(!alive(pids[0]), "the call returned only after the child had exited")
            // SIGKILL went to the whole group at once; the grandchild's own exit may lag a moment behind.
            #expect(await eventually { !alive(pids[1]) }, "the grandchild was killed with the group")
            return result
        }
        #expect(result.released && result.stopped)
        #expect(result.termination == .signaled(SIGKILL))
        #expect((try? String(contentsOfFile: dir.file("term"), encoding: .utf8)) == "term\n", "SIGTERM came first")
    }

    @Test func cancellingBeforeTheReleaseNeverRunsTheCommand() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let asked = Locked(false)
        let result = try await withThrowingTaskGroup(of: RunResult.self) { group in
            group.addTask {
                try await GuardedRun.run(sh("touch '\(dir.file("marker"))'"), timeout: nil, killGrace: .seconds(1),
                                         stop: StopTrigger(),
                                         onSpawn: { _ in
                                             asked.set(true)
                                             try? await Task.sleep(for: .seconds(60))  // ends early: cancelled
                                             return true
                                         },
                                         onOutput: { _, _ in })
            }
            #expect(await eventually { asked.get })
            group.cancelAll()
            return try #require(try await group.next())
        }
        #expect(!result.released)
        #expect(!dir.exists("marker"))
    }

    @Test func theChildHoldsOnlyItsStandardDescriptors() async throws {
        // Another run waits in its handshake meanwhile: its guard pipe must not reach this child either.
        let lines = Lines()
        // No pipeline or $(…): the shell would hold a pipe end of its own while ls looks.
        let script = "ls /proc/$$/fd; readlink /proc/$$/fd/0"
        let guardFDs = Locked<[String]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            let waiting = Locked(false)
            let done = StopTrigger()
            group.addTask {
                _ = try await GuardedRun.run(sh("true"), timeout: nil, killGrace: .seconds(1), stop: StopTrigger(),
                                             onSpawn: { identity in
                                                 let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(identity.pid)/fd")
                                                 guardFDs.set((fds ?? []).sorted())
                                                 waiting.set(true)
                                                 await done.wait()
                                                 return false
                                             },
                                             onOutput: { _, _ in })
            }
            #expect(await eventually { waiting.get })
            _ = try await GuardedRun.run(sh(script), timeout: nil, killGrace: .seconds(1), stop: StopTrigger(),
                                         onSpawn: release, onOutput: lines.append)
            done.fire()
            try await group.waitForAll()
        }
        #expect(guardFDs.get == ["0", "1", "2"], "the waiting guard holds only its pipes")
        #expect(lines.all == ["stdout: 0", "stdout: 1", "stdout: 2", "stdout: /dev/null"])
    }

    @Test func theCommandStartsWithNoSignalBlockedOrIgnored() async throws {
        // grep reads its own status: a shell would show its transient mask while it forks.
        let lines = Lines()
        _ = try await GuardedRun.run(CommandSpec(arguments: ["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"],
                                                 environment: ["PATH": "/usr/bin:/bin"]),
                                     timeout: nil, killGrace: .seconds(1), stop: StopTrigger(), onSpawn: release,
                                     onOutput: lines.append)
        let masks = lines.all.compactMap { line in UInt64(line.split(separator: "\t").last ?? "", radix: 16) }
        try #require(masks.count == 2, "\(lines.all)")
        #expect(masks[0] == 0, "no signal blocked")
        // GuardedRun ignores SIGPIPE in this process; the child must not inherit that. (Signals 32 and 33 are
        // glibc's own, which no spawn can reset: bits 31 and 32 are left out.)
        #expect(masks[1] & 0x7fff_ffff == 0, "no standard signal ignored")
    }

    @Test func aBackgroundGrandchildHoldingThePipesDoesNotHoldTheRun() async throws {
        let lines = Lines()
        let result = try await GuardedRun.run(sh("sleep 300 & echo $!; echo done >&2"), timeout: nil, killGrace: .seconds(1),
                                              stop: StopTrigger(), onSpawn: release, onOutput: lines.append)
        let grandchild = try #require(lines.all.first.flatMap { pid_t($0.dropFirst("stdout: ".count)) })
        defer { kill(grandchild, SIGKILL) }
        #expect(result.termination == .exited(0))
        #expect(lines.all.contains("stderr: done"))
        #expect(alive(grandchild), "the run ended while the grandchild still held the pipes")
    }

    @Test func theTimeoutStaysArmedAfterTheCommandClosedItsOutput() async throws {
        let result = try await GuardedRun.run(sh("exec >/dev/null 2>&1; sleep 300"), timeout: .milliseconds(300),
                                              killGrace: .seconds(2), stop: StopTrigger(), onSpawn: release,
                                              onOutput: { _, _ in })
        #expect(result.timedOut && result.released)
        #expect(result.termination == .signaled(SIGTERM))
    }
}
