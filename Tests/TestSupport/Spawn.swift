import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `posix_spawn` whose child keeps only stdin, stdout and stderr, as Foundation's `Process` arranges for its own.
///
/// Why: the tests run in parallel in one process. A plain `posix_spawn` hands the child every descriptor open at that
/// moment, also another test's: the write end of a pipe that test reads to its end, or the socket through which
/// Foundation's `Process` learns that its child exited. A long-lived child (a test's PostgreSQL server, a leftover
/// process group) then keeps that read or that `waitUntilExit()` blocked until it ends, on one of the few threads of
/// the cooperative pool; two such waits on a 2-core machine stall every test, the server's owner included.
public func spawnKeepingOnlyStandardDescriptors(_ path: String, _ arguments: [String], stdin: String = "/dev/null",
                                                stdout: String = "/dev/null", stderr: String = "/dev/null") throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    try closeAboveStandardDescriptors(&actions)
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
    guard spawned == 0 else { throw SpawnError("cannot run \(path): \(String(cString: strerror(spawned)))") }
    return pid
}

/// Waits for a child and returns its exit status, or 128 + the signal that ended it, as a shell reports it.
public func waitForExit(_ pid: pid_t) throws -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { throw SpawnError("waitpid \(pid): \(String(cString: strerror(errno)))") }
    }
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

public struct SpawnError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

/// glibc 2.34's `posix_spawn_file_actions_addclosefrom_np` (one `close_range` in the child, no race with descriptors
/// opened meanwhile). Swift's Glibc module does not declare it, so it is looked up; without it, the descriptors open
/// now are listed and closed one by one, which is what Foundation's `Process` does.
private func closeAboveStandardDescriptors(_ actions: inout posix_spawn_file_actions_t) throws {
    if let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") {
        let addCloseFrom = unsafeBitCast(symbol, to: AddCloseFrom.self)
        guard addCloseFrom(&actions, 3) == 0 else { throw SpawnError("posix_spawn_file_actions_addclosefrom_np: \(String(cString: strerror(errno)))") }
        return
    }
    let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap(Int32.init) ?? []
    for fd in open where fd > 2 && fcntl(fd, F_GETFD) >= 0 {
        posix_spawn_file_actions_addclose(&actions, fd)
    }
}
