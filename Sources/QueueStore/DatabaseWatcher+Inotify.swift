#if os(Linux)
import Foundation
import Glibc
import Synchronization

/// inotify on a database's `-wal` file: every commit appends to it, so IN_MODIFY means "maybe committed".
/// The directory is watched as well, because the `-wal` may not exist yet or may be replaced; the file watch
/// is added again whenever a `-wal` appears.
struct WALFileWatch: Sendable {
    /// Why inotify cannot be used; becomes `DatabaseWatcher.pollingReason`.
    struct Unavailable: Error, Sendable { let reason: String }

    let fd: Int32
    let walPath: String
    private let walName: String
    private let directoryWatch: Int32
    /// -1 while the `-wal` does not exist.
    private(set) var fileWatch: Int32 = -1

    private static let fileMask = UInt32(IN_MODIFY) | UInt32(IN_CLOSE_WRITE)
    private static let directoryMask = UInt32(IN_CREATE) | UInt32(IN_MOVED_TO) | UInt32(IN_ONLYDIR)

    init(walPath: String) throws(Unavailable) {
        self.walPath = walPath
        walName = (walPath as NSString).lastPathComponent
        let parent = (walPath as NSString).deletingLastPathComponent
        let directory = parent.isEmpty ? "." : parent
        fd = inotify_init1(Int32(IN_NONBLOCK) | Int32(IN_CLOEXEC))
        guard fd >= 0 else { throw Unavailable(reason: Self.describe(errno, "inotify_init1")) }
        directoryWatch = inotify_add_watch(fd, directory, Self.directoryMask)
        guard directoryWatch >= 0 else {
            let e = errno
            Glibc.close(fd)
            throw Unavailable(reason: Self.describe(e, "inotify_add_watch \(directory)"))
        }
        guard addFileWatch() || errno == ENOENT else {
            let e = errno
            Glibc.close(fd)
            throw Unavailable(reason: Self.describe(e, "inotify_add_watch \(walPath)"))
        }
    }

    /// Watches the current `-wal` (again); false with `errno` set when it cannot.
    @discardableResult
    private mutating func addFileWatch() -> Bool {
        let wd = inotify_add_watch(fd, walPath, Self.fileMask)
        guard wd >= 0 else { return false }
        // A replaced file gets a new watch; drop the old one so watches on unlinked files do not pile up.
        if fileWatch >= 0, fileWatch != wd { _ = inotify_rm_watch(fd, fileWatch) }
        fileWatch = wd
        return true
    }

    /// Reads every queued event; true when one of them may mean a commit (a write to the `-wal`,
    /// a new `-wal`, or lost events).
    mutating func drain() -> Bool {
        var relevant = false
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return relevant }  // EAGAIN: drained
            var offset = 0
            while offset + 16 <= n {
                // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }
                let (wd, mask, length) = buffer.withUnsafeBytes {
                    ($0.loadUnaligned(fromByteOffset: offset, as: Int32.self),
                     $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self),
                     Int($0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)))
                }
                let nameBytes = buffer[(offset + 16)..<min(offset + 16 + length, n)].prefix { $0 != 0 }
                offset += 16 + length
                if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                    addFileWatch()
                    relevant = true
                } else if wd == directoryWatch {
                    if String(decoding: nameBytes, as: UTF8.self) == walName {
                        addFileWatch()
                        relevant = true
                    }
                } else if wd == fileWatch {
                    if mask & UInt32(IN_IGNORED) != 0 { fileWatch = -1 } else { relevant = true }
                }
            }
        }
    }

    func close() { Glibc.close(fd) }

    private static func describe(_ code: Int32, _ call: String) -> String {
        switch code {
        case ENOSPC: "\(call): the inotify watch limit is reached; raise the sysctl fs.inotify.max_user_watches"
        case EMFILE: "\(call): the inotify instance limit is reached; raise the sysctl fs.inotify.max_user_instances"
        default: "\(call): \(String(cString: strerror(code)))"
        }
    }
}

/// Wakes the watcher's thread out of `poll(2)` when its stream ends: a socket pair (atomically close-on-exec,
/// unlike `pipe()`) whose write side is shut down once, leaving the read side readable for good.
/// Should the socket pair fail (no file descriptors left), `fd` is -1 and the thread looks at `isSignalled`
/// at least every `fallbackInterval` instead.
final class WakeSignal: Sendable {
    let fd: Int32
    private let writeEnd: Int32
    private let signalled = Mutex(false)

    init() {
        var fds: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if socketpair(AF_UNIX, type, 0, &fds) != 0 { fds = [-1, -1] }
        fd = fds[0]
        writeEnd = fds[1]
    }

    var isSignalled: Bool { signalled.withLock { $0 } }

    func signal() {
        signalled.withLock { $0 = true }
        if writeEnd >= 0 { _ = shutdown(writeEnd, Int32(SHUT_WR)) }
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
        if writeEnd >= 0 { Glibc.close(writeEnd) }
    }
}
#endif
