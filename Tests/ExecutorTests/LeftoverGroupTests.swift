import Foundation
import Testing
@testable import Executor

/// A process group as a previous daemon would have left it: in its own session, not a child of ours.
private struct DetachedGroup {
    let leader: pid_t
    let member: pid_t
    let identity: ChildIdentity

    /// Starts `sh -c "<prelude> sleep 60 & …; <tail>"` in a session of its own through `setsid -f`, whose parent
    /// exits at once: the group is nobody's child here. (Not through Foundation's `Process`: its children start
    /// with most signals blocked, SIGTERM among them.) The script writes its pids once both run.
    static func start(_ dir: TempDir, prelude: String, tail: String = "wait") async throws -> DetachedGroup {
        let pidFile = dir.file("pids")
        let script = "exec </dev/null >/dev/null 2>&1; \(prelude) sleep 60 & echo $$ $! > '\(pidFile).tmp'; "
            + "mv '\(pidFile).tmp' '\(pidFile)'; \(tail)"
        let launch = try await GuardedRun.run(
            CommandSpec(arguments: ["/usr/bin/setsid", "-f", "/bin/sh", "-c", script], environment: ["PATH": "/usr/bin:/bin"]),
            timeout: nil, killGrace: .seconds(1), stop: StopTrigger(), onSpawn: release, onOutput: { _, _ in })
        let written = await eventually { dir.exists("pids") }
        let pids = (try? String(contentsOfFile: pidFile, encoding: .utf8))?.split(whereSeparator: \.isWhitespace)
            .compactMap { pid_t($0) } ?? []
        guard launch.termination == .exited(0), written, pids.count == 2, let identity = ChildIdentity.of(pid: pids[0]) else {
            if pids.count == 2 { Glibc.kill(-pids[0], SIGKILL) }
            throw DetachedGroupFailed()
        }
        return DetachedGroup(leader: pids[0], member: pids[1], identity: identity)
    }

    /// Cleanup whatever the test left; harmless once the group is gone.
    func kill() { _ = Glibc.kill(-leader, SIGKILL) }

    var isGone: Bool { !alive(leader) && !alive(member) }
}

private struct DetachedGroupFailed: Error {}

@Suite struct LeftoverGroupTests {
    @Test func aGroupThatIgnoresTermIsKilled() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let group = try await DetachedGroup.start(dir, prelude: "trap '' TERM;")
        defer { group.kill() }
        #expect(getpgid(group.member) == group.leader)
        let result = await LeftoverGroup.stop(group.identity, grace: .milliseconds(300))
        #expect(result == .killed)
        #expect(group.isGone)
    }

    @Test func aGroupThatObeysTermIsStoppedByTerm() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let group = try await DetachedGroup.start(dir, prelude: "")
        defer { group.kill() }
        let result = await LeftoverGroup.stop(group.identity, grace: .seconds(20))
        #expect(result == .stoppedByTerm)
        #expect(group.isGone)
    }

    @Test func membersLeftByAnExitedLeaderAreStillStopped() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let group = try await DetachedGroup.start(dir, prelude: "trap '' TERM;",
                                                  tail: "while [ ! -e '\(dir.file("exit"))' ]; do sleep 0.05; done")
        defer { group.kill() }
        #expect(FileManager.default.createFile(atPath: dir.file("exit"), contents: nil))
        #expect(await eventually { !alive(group.leader) })
        #expect(alive(group.member))
        #expect(await LeftoverGroup.stop(group.identity, grace: .milliseconds(300)) == .killed)
        #expect(group.isGone)
    }

    @Test func aDeadPidIsAlreadyGone() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let group = try await DetachedGroup.start(dir, prelude: "")
        defer { group.kill() }
        group.kill()
        #expect(await eventually { group.isGone && !groupHasRunningMembers(group.leader) })
        #expect(await LeftoverGroup.stop(group.identity, grace: .seconds(1)) == .alreadyGone)
    }

    @Test func aMismatchedStartTimeIsPidReuseAndNotSignalled() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let group = try await DetachedGroup.start(dir, prelude: "")
        defer { group.kill() }
        var other = group.identity
        other.startTicks += 1
        #expect(await LeftoverGroup.stop(other, grace: .seconds(1)) == .pidReused)
        #expect(alive(group.leader) && alive(group.member), "nothing was signalled")
    }

    /// Another boot id: a reboot, or another host of a shared queue. Either way nothing here is that group.
    @Test func anotherBootIsOutOfReachAndNotSignalled() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let group = try await DetachedGroup.start(dir, prelude: "")
        defer { group.kill() }
        var other = group.identity
        other.bootID = "00000000-0000-0000-0000-000000000000"
        #expect(await LeftoverGroup.stop(other, grace: .seconds(1)) == .otherBoot("00000000-0000-0000-0000-000000000000"))
        #expect(alive(group.leader) && alive(group.member), "nothing was signalled")
    }
}
