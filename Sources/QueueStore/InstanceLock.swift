import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Holds an exclusive `flock` on `<database>.lock` for the daemon's life: one daemon per database.
/// The kernel drops the lock when the process dies, so a crash never leaves a stale lock behind.
public final class InstanceLock: Sendable {
    private let fd: Int32

    public init(databasePath: String) throws(QueueStoreError) {
        let lockPath = databasePath + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o660)
        guard fd >= 0 else {
            throw .open(path: lockPath, underlying: String(cString: strerror(errno)))
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, 31, 0)
            let pid = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "unknown"
            close(fd)
            throw .alreadyRunning(path: databasePath, pid: pid)
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        self.fd = fd
    }

    deinit { close(fd) }
}
