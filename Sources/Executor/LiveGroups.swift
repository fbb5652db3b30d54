import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Every deploy command this process has spawned and not yet seen exit, by process group. A leader that loses its
/// lease must stop them without the database (it may be what failed), so they are known here, in memory.
public enum LiveGroups {
    private static let groups = Mutex<[Int32: ChildIdentity]>([:])

    static func add(_ identity: ChildIdentity) { groups.withLock { $0[identity.pid] = identity } }
    static func remove(_ pid: Int32) { _ = groups.withLock { $0.removeValue(forKey: pid) } }

    /// The groups alive right now.
    public static var current: [ChildIdentity] { groups.withLock { Array($0.values) } }

    /// Stops them all: SIGTERM at once, SIGKILL to those left at `killAt`; returns once none runs, or at
    /// `giveUpAt`. Groups spawned meanwhile (a release already under way) are signalled as they appear.
    /// Returns the number of groups still running at the end (0: all verified gone).
    public static func stopAll(killAt: ContinuousClock.Instant, giveUpAt: ContinuousClock.Instant) async -> Int {
        var termed = Set<Int32>(), killed = Set<Int32>()
        while true {
            let now = ContinuousClock.now
            let running = current.filter { groupHasRunningMembers($0.pid) }
            if running.isEmpty { return 0 }
            if now >= giveUpAt { return running.count }
            for group in running where !termed.contains(group.pid) {
                _ = kill(-group.pid, SIGTERM)
                termed.insert(group.pid)
            }
            if now >= killAt {
                for group in running where !killed.contains(group.pid) {
                    _ = kill(-group.pid, SIGKILL)
                    killed.insert(group.pid)
                }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}
