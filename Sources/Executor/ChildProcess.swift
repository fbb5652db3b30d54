import CSpawn
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A deploy command running in its own process group, with its stdout and stderr captured line by line.
///
/// Signals go to the whole group (`kill(-pgid)`), so the tools a deploy script starts are stopped with it.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    /// Events in order: output lines, then exactly one `.exit`.
    public let events: AsyncStream<ChildEvent>

    private init(pid: pid_t, events: AsyncStream<ChildEvent>) {
        self.pid = pid
        self.events = events
    }

    /// Starts `spec`. The reader thread owns the pipes and reaps the child; nothing blocks a Swift concurrency thread.
    public static func spawn(_ spec: CommandSpec) throws(ExecutorError) -> ChildProcess {
        guard let command = spec.arguments.first, !command.isEmpty else { throw .emptyCommand }
        let path = try resolve(command, path: spec.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")

        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard cg_pipe_cloexec(&outPipe) == 0, cg_pipe_cloexec(&errPipe) == 0 else {
            throw .spawnFailed(command: command, reason: String(cString: strerror(errno)))
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        if let dir = spec.workingDirectory { cg_spawn_addchdir(&actions, dir) }
        cg_spawn_addclosefrom(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group (pgid = pid), default signal dispositions and an empty mask.
        var defaults = sigset_t()
        sigfillset(&defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = spec.arguments.map { strdup($0) } + [nil]
        let envp = spec.environment.sorted(by: { $0.key < $1.key }).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }

        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            throw .spawnFailed(command: command, reason: String(cString: strerror(rc)))
        }
        let (stream, continuation) = AsyncStream<ChildEvent>.makeStream(bufferingPolicy: .unbounded)
        let reader = OutputReader(pid: pid, stdout: outPipe[0], stderr: errPipe[0], continuation: continuation)
        let thread = Thread { reader.run() }
        thread.name = "changegate-child-\(pid)"
        thread.start()
        return ChildProcess(pid: pid, events: stream)
    }

    /// Sends `signal` to the child's whole process group.
    public func signalGroup(_ signal: Int32) {
        _ = kill(-pid, signal)
    }

    static func resolve(_ command: String, path: String) throws(ExecutorError) -> String {
        if command.contains("/") {
            guard access(command, X_OK) == 0 else { throw .commandNotFound(command) }
            return command
        }
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(command)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw .commandNotFound(command)
    }
}

/// Reads both pipes with poll(2) on its own thread and reaps the child when it exits.
private final class OutputReader: @unchecked Sendable {
    // Only touched on the reader thread after init.
    let pid: pid_t
    let fds: [Int32]
    let continuation: AsyncStream<ChildEvent>.Continuation
    var splitters = [LineSplitter(), LineSplitter()]

    init(pid: pid_t, stdout: Int32, stderr: Int32, continuation: AsyncStream<ChildEvent>.Continuation) {
        self.pid = pid
        self.fds = [stdout, stderr]
        self.continuation = continuation
    }

    func run() {
        var open = [true, true]
        var status: Int32 = 0
        var exited = false
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var quietPolls = 0
        while open.contains(true) {
            var pollfds = (0..<2).map { pollfd(fd: open[$0] ? fds[$0] : -1, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&pollfds, 2, 100)
            if ready > 0 {
                quietPolls = 0
                for i in 0..<2 where open[i] && pollfds[i].revents != 0 {
                    let n = buffer.withUnsafeMutableBytes { read(fds[i], $0.baseAddress, $0.count) }
                    if n > 0 {
                        let lines = buffer.withUnsafeBytes { splitters[i].feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                        for line in lines { continuation.yield(.output(i == 0 ? .stdout : .stderr, line)) }
                    } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                        open[i] = false
                    }
                }
            } else {
                quietPolls += 1
            }
            // A background grandchild may keep the pipes open after the command itself ended:
            // once the command exited and the pipes stay quiet, stop reading.
            if !exited, waitpid(pid, &status, WNOHANG) == pid { exited = true }
            if exited && quietPolls >= 2 { break }
        }
        for i in 0..<2 {
            if let last = splitters[i].flush() { continuation.yield(.output(i == 0 ? .stdout : .stderr, last)) }
            close(fds[i])
        }
        if !exited {
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        let termination: Termination = (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
        continuation.yield(.exit(termination))
        continuation.finish()
    }
}
