import Foundation
import Synchronization

/// Lets another part of the daemon ask a running deployment to stop (change left Implement, cancel, shutdown).
public final class StopTrigger: Sendable {
    private struct State {
        var fired = false
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    public func fire() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard !s.fired else { return [] }
            s.fired = true
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        waiters.forEach { $0.resume() }
    }

    public var isFired: Bool { state.withLock { $0.fired } }

    /// Returns once `fire()` was called (at once if it already was), or when the calling task is cancelled.
    func wait() async {
        let id = state.withLock { s -> UInt64 in s.nextID += 1; return s.nextID }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.fired || Task.isCancelled { return true }
                    s.waiters[id] = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// Why a run was stopped; set once by the watcher.
private final class StopReason: Sendable {
    let value = Mutex<(timedOut: Bool, stopped: Bool)>((false, false))
}

/// How a guarded run ended.
public struct RunResult: Sendable, Equatable {
    public var termination: Termination
    /// The run went past its timeout and was stopped.
    public var timedOut: Bool
    /// The run was stopped through its `StopTrigger`.
    public var stopped: Bool
    public var duration: Duration
}

public enum GuardedRun {
    /// Runs `spec` to the end, passing each output line to `onOutput`.
    /// On timeout or `stop.fire()`: SIGTERM to the process group, SIGKILL after `killGrace`.
    public static func run(_ spec: CommandSpec, timeout: Duration?, killGrace: Duration, stop: StopTrigger,
                           onStart: @Sendable (pid_t) -> Void = { _ in },
                           onOutput: @Sendable @escaping (ChildStream, String) -> Void) async throws(ExecutorError) -> RunResult {
        let clock = ContinuousClock()
        let started = clock.now
        let child = try ChildProcess.spawn(spec)
        onStart(child.pid)
        let reasons = StopReason()
        let termination = await withTaskGroup(of: Termination?.self) { group in
            group.addTask {
                for await event in child.events {
                    switch event {
                    case .output(let stream, let line): onOutput(stream, line)
                    case .exit(let t): return t
                    }
                }
                return .signaled(SIGKILL)
            }
            group.addTask {
                // Whichever comes first: the timeout or a stop request. Cancelled when the child exits.
                let timedOut = await withTaskGroup(of: Bool.self) { race in
                    if let timeout {
                        race.addTask { (try? await Task.sleep(for: timeout)) != nil }
                    }
                    race.addTask { await stop.wait(); return false }
                    let first = await race.next() ?? false
                    race.cancelAll()
                    return first
                }
                guard !Task.isCancelled else { return nil }
                reasons.value.withLock { $0 = (timedOut, !timedOut) }
                child.signalGroup(SIGTERM)
                try? await Task.sleep(for: killGrace)
                if !Task.isCancelled { child.signalGroup(SIGKILL) }
                return nil
            }
            var result: Termination = .signaled(SIGKILL)
            while let value = await group.next() {
                if let t = value {
                    result = t
                    group.cancelAll()
                }
            }
            return result
        }
        let (timedOut, stopped) = reasons.value.withLock { $0 }
        return RunResult(termination: termination, timedOut: timedOut, stopped: stopped, duration: clock.now - started)
    }
}
