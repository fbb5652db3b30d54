import Dispatch
import Foundation
import Testing
import TestSupport

/// The tests' own helpers for blocking work. The spawn helper: a long-lived child it starts (a PostgreSQL server, a
/// leftover group) must not hold another test's pipe or Foundation's exit socket, which would block that test until
/// the child ends. The `.ownThreads` trait: a test that blocks costs a thread of its own, never the cooperative pool.
@Suite(.ownThreads) struct SpawnHelperTests {
    @Test func theChildHasOnlyTheStandardDescriptors() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        // Inheritable (no FD_CLOEXEC), as Foundation's pipes are: only the helper's closing keeps it out.
        #expect(fcntl(fds[1], F_GETFD) & FD_CLOEXEC == 0)
        let listing = FileManager.default.temporaryDirectory.appendingPathComponent("cg-spawn-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: listing) }
        let pipeName = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fds[1])")
        #expect(pipeName.hasPrefix("pipe:["))
        // The shell's descriptors, listed by a child of it (the shell itself would open some to list them).
        let pid = try spawnKeepingOnlyStandardDescriptors("/bin/sh", ["-c", "ls -l /proc/$$/fd; true"], stdout: listing)
        #expect(try waitForExit(pid) == 0)
        let open = try String(contentsOfFile: listing, encoding: .utf8).split(separator: "\n")
            .compactMap { line in line.range(of: " -> ").map { String(line[..<$0.lowerBound].split(separator: " ").last ?? "") } }
        #expect(open == ["0", "1", "2"], "the test's pipe is \(pipeName): \((try? String(contentsOfFile: listing, encoding: .utf8)) ?? "")")
    }

    /// `.ownThreads`: more tests block at once than the cooperative pool has threads, and each still runs. On the
    /// pool (one thread a core) the last ones would wait for a thread that never comes free, and the barrier would
    /// time out.
    @Test func blockingWorkOnOwnThreadsNeverWaitsForAThread() async {
        let count = ProcessInfo.processInfo.activeProcessorCount + 2
        let arrived = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let met = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<count {
                group.addTask {
                    arrived.signal()
                    return release.wait(timeout: .now() + 60) == .success  // blocks its thread, as a waitUntilExit does
                }
            }
            // Every child is blocked on its thread before any is let go.
            let deadline = DispatchTime.now() + 30
            let all = (0..<count).allSatisfy { _ in arrived.wait(timeout: deadline) == .success }
            for _ in 0..<count { release.signal() }
            var released = true
            for await ok in group { released = released && ok }
            return all && released
        }
        #expect(met, "\(count) blocking children did not all run at once")
    }
}
