import Subprocess
#if canImport(Glibc)
import Glibc
#endif

/// How a guarded run ended.
public struct RunResult: Sendable, Equatable {
    public var termination: Termination
    /// The run went past its timeout and was stopped.
    public var timedOut: Bool
    /// The run was stopped through its `StopTrigger` or by cancelling the calling task.
    public var stopped: Bool
    /// From the release (the guard's wait before it does not count), or from the spawn when never released.
    public var duration: Duration
    /// The command was let past the guard. When false it never ran: the guard exited (125) or was stopped.
    public var released: Bool
}

public enum GuardedRun {
    /// Spawns `spec` behind the guard, then awaits `onSpawn(identity)`. Only if it returns true is the command
    /// released (the caller returns true after it durably recorded the identity). If it returns false, or the
    /// calling task is cancelled (or `stop` fired) before that, the guard is stopped and the command never runs
    /// (`RunResult.released == false`).
    /// After release: output lines go to `onOutput`; on timeout or `stop.fire()` or task cancellation: SIGTERM to
    /// the group, SIGKILL after `killGrace`, and the call returns only once the child has exited (reaped).
    public static func run(_ spec: CommandSpec, timeout: Duration?, killGrace: Duration, stop: StopTrigger,
                           onSpawn: @Sendable (ChildIdentity) async -> Bool,
                           onOutput: @Sendable @escaping (ChildStream, String) -> Void) async throws(ExecutorError) -> RunResult {
        guard let command = spec.arguments.first, !command.isEmpty else { throw .emptyCommand }
        // Resolved here, in the child's PATH, so a missing command is a typed error rather than the guard's exit 127.
        let path = try resolve(command, path: spec.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        _ = ignoreBrokenPipes
        let teardown: [TeardownStep] = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: killGrace)]
        var options = PlatformOptions()
        options.processGroupID = 0  // pgid = pid: signals reach the tools the command starts
        options.teardownSequence = teardown  // what subprocess does when the calling task is cancelled
        let environment = Environment.custom(Dictionary(uniqueKeysWithValues: spec.environment.compactMap { key, value in
            Environment.Key(rawValue: key).map { ($0, value) }
        }))
        let clock = ContinuousClock()
        let started = clock.now
        let outcome: Supervision.Outcome
        let status: TerminationStatus
        do {
            // Subprocess gives the child an empty signal mask and default dispositions and closes every other
            // descriptor in it, so the guard's pipe reaches no other child.
            let result = try await Subprocess.run(
                .path("/bin/sh"), arguments: Arguments(["-c", guardScript, "changegate-guard", path] + spec.arguments.dropFirst()),
                environment: environment, workingDirectory: spec.workingDirectory.map { .init($0) },
                platformOptions: options, input: .inputWriter, output: .sequence, error: .sequence
            ) { execution in
                await Supervision(execution: execution, timeout: timeout, teardown: teardown, stop: stop)
                    .run(onSpawn: onSpawn, onOutput: onOutput)
            }
            status = result.terminationStatus
            outcome = result.closureResult
        } catch {
            throw .spawnFailed(command: command, reason: "\(error)")
        }
        if let pid = outcome.unreadableIdentity {
            throw .spawnFailed(command: command,
                               reason: "could not read /proc/\(pid)/stat to record the child (is /proc mounted?); it was not run")
        }
        let termination: Termination = switch status {
        case .exited(let code): .exited(code)
        case .signaled(let signal): .signaled(signal)
        }
        return RunResult(termination: termination, timedOut: outcome.timedOut, stopped: outcome.stopped,
                         duration: clock.now - (outcome.releasedAt ?? started), released: outcome.released)
    }

    /// The holder: waits for one line `go` on its stdin pipe, then becomes the command (same pid, same group) with
    /// stdin from /dev/null; on EOF or anything else it exits 125 without running it. dash starts in about a
    /// millisecond, which keeps no-op deployments fast.
    static let guardScript = #"IFS= read -r go && [ "$go" = go ] && exec "$@" </dev/null; exit 125"#

    /// Writing `go` to a guard that was killed meanwhile must be an error, not a SIGPIPE that ends the daemon.
    /// Children do not inherit this: subprocess resets every signal to its default in them.
    private static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

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
