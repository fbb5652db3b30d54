import Foundation
import Testing
import TestSupport

/// The tests' own spawn helper: a long-lived child it starts (a PostgreSQL server, a leftover group) must not hold
/// another test's pipe or Foundation's exit socket, which would block that test until the child ends.
@Suite struct SpawnHelperTests {
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
}
