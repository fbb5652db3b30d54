import Dispatch
import Subprocess

/// One guarded child from spawn to exit: the release handshake, output lines, and the stop/timeout teardown.
/// Runs inside subprocess's `run` body, where the child is not reaped yet, so its pid is still its group's id.
struct Supervision: Sendable {
    typealias Child = Execution<CustomWriteInput, SequenceOutput, SequenceOutput>

    struct Outcome: Sendable {
        var released = false
        /// When `go` was written: the run's duration counts from here (a guard may wait long before it).
        var releasedAt: ContinuousClock.Instant?
        var timedOut = false
        var stopped = false
        /// Set when the child's identity could not be read, so it was never released.
        var unreadableIdentity: Int32?
    }

    let execution: Child
    let timeout: Duration?
    let teardown: [TeardownStep]
    let stop: StopTrigger

    func run(onSpawn: @Sendable (ChildIdentity) async -> Bool,
             onOutput: @Sendable @escaping (ChildStream, String) -> Void) async -> Outcome {
        let pid = execution.processIdentifier.value
        let writer = execution.standardInputWriter
        guard let identity = ChildIdentity.of(pid: pid) else {
            try? await writer.finish()
            return Outcome(unreadableIdentity: pid)
        }
        LiveGroups.add(identity)
        defer { LiveGroups.remove(pid) }
        let go = await onSpawn(identity)
        // Not released: closing the pipe makes the guard exit 125. (On cancellation subprocess also tears it down.)
        guard go, !stop.isFired, !Task.isCancelled else {
            try? await writer.finish()
            return Outcome(stopped: stop.isFired || Task.isCancelled)
        }
        do {
            _ = try await writer.write(Array("go\n".utf8))
            try await writer.finish()
        } catch {
            return Outcome()  // the guard died before it could be released (killed from outside)
        }
        var outcome = Outcome(released: true, releasedAt: .now)
        await withTaskGroup(of: Event.self) { group in
            group.addTask { await Self.pump(execution.standardOutput, .stdout, onOutput); return .drained }
            group.addTask { await Self.pump(execution.standardError, .stderr, onOutput); return .drained }
            group.addTask { await watch() }
            var drained = 0
            while let event = await group.next() {
                switch event {
                case .drained:
                    drained += 1
                    // Both pipes ended (EOF; or the child exited while a background grandchild holds them; or
                    // the task was cancelled). The command may still run: the timeout and stop stay armed, and
                    // on cancellation subprocess tears it down, until it exited.
                    if drained == 2 {
                        await waitForExit(pid)
                        group.cancelAll()
                    }
                case .stopped(let timedOut):
                    outcome.timedOut = timedOut
                    outcome.stopped = !timedOut
                case .idle:
                    break
                }
            }
        }
        if Task.isCancelled && !outcome.timedOut { outcome.stopped = true }
        return outcome
    }

    private enum Event: Sendable { case drained, stopped(timedOut: Bool), idle }

    /// Whichever comes first, the timeout or a stop request: then the group teardown. Cancelled when the child
    /// exited; task cancellation is left to subprocess, which runs the same teardown.
    private func watch() async -> Event {
        let timedOut = await withTaskGroup(of: Bool.self) { race in
            if let timeout {
                race.addTask { (try? await Task.sleep(for: timeout)) != nil }
            }
            race.addTask { await stop.wait(); return false }
            let first = await race.next() ?? false
            race.cancelAll()
            return first
        }
        guard !Task.isCancelled else { return .idle }
        // SIGTERM to the group; SIGKILL to the group if the child is still there after the grace.
        await execution.teardown(using: teardown)
        return .stopped(timedOut: timedOut)
    }

    private static func pump(_ output: SubprocessOutputSequence, _ stream: ChildStream,
                             _ onOutput: @Sendable (ChildStream, String) -> Void) async {
        var splitter = LineSplitter()
        do {
            for try await buffer in output {
                for line in buffer.withUnsafeBytes({ splitter.feed($0) }) { onOutput(stream, line) }
            }
        } catch {
            onOutput(.stderr, "changegate: stopped reading the command's \(stream.rawValue): \(error)")
        }
        if let last = splitter.flush() { onOutput(stream, last) }
    }

    /// Waits (without reaping: subprocess does that) until the child is a zombie. Usually it already is when its
    /// pipes end, so the first look answers; otherwise poll, backing off from 0.1 ms to 50 ms.
    /// In a cancelled task too: returning would close the pipes while the child is still being torn down, and a
    /// script that reports its TERM would die of SIGPIPE instead of finishing its cleanup.
    private func waitForExit(_ pid: Int32) async {
        var interval = Duration.microseconds(100)
        while let stat = ProcStat(pid: pid), !stat.isZombie {
            await pause(interval)
            interval = min(interval * 2, .milliseconds(50))
        }
    }
}

/// A sleep that a cancelled task does not cut short (`Task.sleep` returns at once there).
func pause(_ duration: Duration) async {
    let (seconds, attoseconds) = duration.components
    let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { done.resume() }
    }
}
