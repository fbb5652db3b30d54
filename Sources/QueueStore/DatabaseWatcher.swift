#if os(Linux)
import Foundation
import Glibc
import GRDB
import Synchronization

/// Tells when another connection may have committed to the database file, so the scheduler can sleep until
/// something happens instead of re-reading the queue every few milliseconds.
///
/// It waits with inotify on the `-wal` file (every commit appends to it) and confirms with `PRAGMA data_version`
/// on a read-only connection of its own, which moves only when another connection has committed: a producer's
/// `sqlite3`, or the daemon's own writer. Given the daemon's store (`ignoringCommitsOf`), it asks the store's
/// writer connection instead, so that only other connections' commits count. Where inotify
/// cannot be set up (file systems without it, limits reached), it reads `data_version` every
/// `fallbackInterval` instead: `mode` is `.polling`, and `pollingReason` says why, for the daemon to log.
/// With inotify it still checks every 10 × `fallbackInterval`, in case a file system drops an event.
///
/// Waiting happens in `poll(2)` on a thread of its own, so no Swift concurrency thread is blocked and an
/// idle watcher costs no CPU.
public final class DatabaseWatcher: Sendable {
    public enum Mode: Sendable, Equatable { case inotify, polling }

    public let path: String
    public let mode: Mode
    /// Why inotify is not used, nil when it is; e.g. "… the inotify watch limit is reached; raise the sysctl
    /// fs.inotify.max_user_watches".
    public let pollingReason: String?
    let fallbackInterval: Duration
    private let reader: DatabaseQueue
    /// Reads `data_version` on the daemon's own writer connection instead, where it moves only for commits of
    /// *other* connections: the daemon's own commits then wake nobody (at full speed, one wake per deployment).
    private let store: QueueStore?
    /// The inotify watch, lent to the stream that consumes it and given back when that stream ends.
    private let files: Mutex<WALFileWatch?>
    private let threads = Mutex(0)

    /// Opens a read-only connection to the existing database at `path` (`QueueStore` creates it).
    /// `fallbackInterval` is kept within 10 ms … 1 h.
    /// Throws `QueueStoreError.open` when the database cannot be opened; the operator sees the path, SQLite's
    /// reason and a hint to check the directory and its permissions. Lacking inotify is no error (see `mode`).
    public init(path: String, fallbackInterval: Duration = .seconds(1), forcePolling: Bool = false,
                ignoringCommitsOf store: QueueStore? = nil) throws(QueueStoreError) {
        self.path = path
        self.store = store
        self.fallbackInterval = min(max(fallbackInterval, .milliseconds(10)), .seconds(3600))
        var config = Configuration()
        config.readonly = true
        config.label = "changegate.watcher"
        // A producer's commit or a checkpoint may hold a lock for a moment; wait rather than fail the check.
        config.busyMode = .timeout(10)
        do {
            reader = try DatabaseQueue(path: path, configuration: config)
            // The first read opens the WAL, creating the -wal file if it is missing, before it is watched.
            _ = try Self.dataVersion(reader)
        } catch {
            throw QueueStoreError.wrap(error, path: path, opening: true)
        }
        let watch: WALFileWatch?
        if forcePolling {
            (watch, pollingReason) = (nil, "polling was asked for")
        } else {
            do throws(WALFileWatch.Unavailable) {
                (watch, pollingReason) = (try WALFileWatch(walPath: path + "-wal"), nil)
            } catch {
                (watch, pollingReason) = (nil, "inotify is unavailable (\(error.reason)); checking every \(self.fallbackInterval)")
            }
        }
        mode = watch == nil ? .polling : .inotify
        files = Mutex(watch)
    }

    deinit { files.withLock { $0?.close() } }

    /// Threads still watching; for tests that check a cancelled stream leaves none behind.
    var runningThreads: Int { threads.withLock { $0 } }

    /// Yields once at the start (so a commit made just before the call is not missed), then once per observed
    /// change, coalesced: a burst of commits may yield once, and nothing is yielded while `data_version` stays
    /// put. A check that fails yields too, so the consumer's own query meets the error and reports it.
    /// Ends when the consuming task is cancelled or the stream is dropped, and its thread ends with it.
    /// Meant for one consumer at a time: a second stream running alongside polls every `fallbackInterval`.
    public func changes() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let wake = WakeSignal()
        continuation.onTermination = { _ in wake.signal() }
        let lent = files.withLock { slot in
            defer { slot = nil }
            return slot
        }
        threads.withLock { $0 += 1 }
        let thread = Thread { [self] in
            var watch = lent
            run(&watch, wake: wake, continuation: continuation)
            if let watch { files.withLock { $0 = watch } }
            continuation.finish()
            threads.withLock { $0 -= 1 }
        }
        thread.start()
        return stream
    }

    /// Quick re-checks after a `-wal` event that showed no commit yet: a writer appends its frames before it
    /// publishes the commit in the `-shm` index, so the event often comes a moment early (most commits of a
    /// long-lived connection, in tests). The last, slow re-check is for a writer descheduled in between.
    private static let recheckDelays: [Duration] = [.microseconds(250), .milliseconds(1), .milliseconds(3), .milliseconds(10), .milliseconds(50),
                                                    .milliseconds(250), .seconds(1)]

    private func dataVersion() throws -> Int {
        if let store { return try store.writerDataVersion() }
        return try Self.dataVersion(reader)
    }

    private func run(_ files: inout WALFileWatch?, wake: WakeSignal, continuation: AsyncStream<Void>.Continuation) {
        var last = try? dataVersion()
        if case .terminated = continuation.yield(()) { return }
        var rechecks = 0
        // A deadline rather than a timeout, so events about other files in the directory do not put off checks.
        var deadline = ContinuousClock.now
        func scheduleNextCheck() {
            // Without a wake descriptor the end of the stream is noticed by looking at the flag.
            let idle = files == nil || wake.fd < 0 ? fallbackInterval : fallbackInterval * 10
            let delays = Self.recheckDelays
            deadline = .now + (rechecks > 0 ? delays[delays.count - rechecks] : idle)
        }
        scheduleNextCheck()
        while !wake.isSignalled {
            switch Self.wait(wake: wake.fd, files: files?.fd ?? -1, timeout: deadline - .now) {
            case .stop:
                return
            case .files:
                guard files?.drain() == true else { continue }  // only other files in the directory changed
                rechecks = Self.recheckDelays.count
            case .filesBroken:
                files?.close()
                files = nil
                scheduleNextCheck()
                continue
            case .timeout:
                rechecks = max(rechecks - 1, 0)
            }
            let now = try? dataVersion()
            if now == nil || now != last {
                last = now
                rechecks = 0
                if case .terminated = continuation.yield(()) { return }
            }
            scheduleNextCheck()
        }
    }

    private static func dataVersion(_ reader: DatabaseQueue) throws -> Int {
        try reader.read { db in try Int.fetchOne(db, sql: "PRAGMA data_version") ?? 0 }
    }

    private enum Wake { case stop, files, filesBroken, timeout }

    /// Blocks this (dedicated) thread until the stream ends, an inotify event arrives or `timeout` passes.
    private static func wait(wake: Int32, files: Int32, timeout: Duration) -> Wake {
        // poll(2) skips negative descriptors.
        var fds = [pollfd(fd: wake, events: Int16(POLLIN), revents: 0), pollfd(fd: files, events: Int16(POLLIN), revents: 0)]
        // Rounded up, so a wait never turns into a spin; a deadline already passed waits 0 ms (never -1: forever).
        let (seconds, attoseconds) = max(timeout, .zero).components
        let ms = Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        let n = poll(&fds, nfds_t(fds.count), ms)
        if n < 0 {
            // Not EINTR: sleep instead, so a failing poll cannot turn into a busy loop.
            if errno != EINTR { Thread.sleep(forTimeInterval: Double(ms) / 1000) }
            return .timeout
        }
        if n == 0 { return .timeout }
        if fds[0].revents != 0 { return .stop }
        if fds[1].revents & Int16(POLLIN) == 0 { return .filesBroken }
        return .files
    }
}
#endif
