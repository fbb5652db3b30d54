#if canImport(Glibc)
import Glibc
#endif

public enum LeftoverResult: Sendable, Equatable {
    /// No such group (or another boot: nothing survives a reboot).
    case alreadyGone
    /// It existed and was gone within `grace` after SIGTERM.
    case stoppedByTerm
    /// It ignored SIGTERM; SIGKILL ended it.
    case killed
    /// Even SIGKILL did not end it within `giveUpAfter` (D state…), or the calling task was cancelled first:
    /// the caller keeps the slot.
    case stillAlive
    /// The leader pid now belongs to another process (start time differs): not signalled.
    case pidReused
    /// Recorded under another boot id (a reboot, or another host of a shared queue): nothing here to signal.
    case otherBoot(String)
}

/// Start-up recovery: stops the process group of a deployment a previous daemon started and recorded.
///
/// It is not our child, so there is nothing to reap and no exit to await: "gone" is read off the process table
/// (`kill(-pgid, 0)`, then `/proc` to tell running members from zombies), polled every 50 ms.
public enum LeftoverGroup {
    static let pollInterval = Duration.milliseconds(50)

    public static func stop(_ identity: ChildIdentity, grace: Duration,
                            giveUpAfter: Duration = .seconds(30)) async -> LeftoverResult {
        // Another boot: nothing of it survived. (If this boot's id cannot be read, the pid checks below decide.)
        if let boot = ChildIdentity.currentBootID, identity.bootID != boot { return .otherBoot(identity.bootID) }
        switch check(identity) {
        case .reused: return .pidReused
        case .gone: return .alreadyGone
        case .running: break
        }
        _ = kill(-identity.pid, SIGTERM)
        if await waitUntilGone(identity.pid, within: grace) { return .stoppedByTerm }
        guard !Task.isCancelled else { return .stillAlive }  // no early SIGKILL because the caller gave up
        // Checked again: the leader may have exited meanwhile. While any member is left the kernel does not hand
        // the number out again, so a group still running under it is still ours.
        switch check(identity) {
        case .reused: return .pidReused
        case .gone: return .stoppedByTerm
        case .running: break
        }
        _ = kill(-identity.pid, SIGKILL)
        return await waitUntilGone(identity.pid, within: giveUpAfter) ? .killed : .stillAlive
    }

    private enum State { case running, gone, reused }

    private static func check(_ identity: ChildIdentity) -> State {
        // A leader that still exists must be the very process recorded; a leader that is gone may have left
        // members behind, which still carry its pid as their group id.
        if let leader = ProcStat(pid: identity.pid), leader.startTicks != identity.startTicks { return .reused }
        return groupHasRunningMembers(identity.pid) ? .running : .gone
    }

    /// True once no member of the group runs; false if `limit` passed first or the task was cancelled.
    private static func waitUntilGone(_ group: Int32, within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while groupHasRunningMembers(group) {
            guard ContinuousClock.now < deadline else { return false }
            do { try await Task.sleep(for: pollInterval) } catch { return false }
        }
        return true
    }
}
