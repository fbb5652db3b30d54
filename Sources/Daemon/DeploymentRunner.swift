import AuditTrail
import ChangegateConfig
import Executor
import Foundation
import Logging
import ServiceNowClient
import ServiceNowModel
import QueueContract
import StateMachine

/// executing: runs the project's deploy command (from the config only) with the task's environment.
struct DeploymentRunner: Sendable {
    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    /// Harmless variables carried over from the daemon; nothing else of its environment reaches the child.
    static let inherited = ["LANG", "LC_ALL", "TZ", "HOME", "USER", "LOGNAME"]

    static func commandSpec(for task: ActiveTask, daemonEnvironment: [String: String]) -> CommandSpec {
        var env: [String: String] = ["PATH": defaultPath]
        for key in inherited { if let v = daemonEnvironment[key] { env[key] = v } }
        env.merge(task.project.environment) { $1 }
        env.merge(task.request.variables) { $1 }
        env["CHANGEGATE_TASK_ID"] = "\(task.id)"
        env["CHANGEGATE_PROJECT"] = task.request.project
        env["CHANGEGATE_ENVIRONMENT"] = task.request.environment
        env["CHANGEGATE_RELEASE"] = task.request.release
        env["CHANGEGATE_CHANGE_NUMBER"] = task.change?.number ?? ""
        env["CHANGEGATE_REQUESTED_BY"] = task.request.requestedBy ?? ""
        let argv = task.project.shell ? ["/bin/sh", "-c", task.project.command[0]] : task.project.command
        return CommandSpec(arguments: argv, environment: env, workingDirectory: task.project.workingDirectory)
    }

    let service: (any ChangeService)?
    let inbox: Inbox
    let output: OutputBuffer

    /// Adds the start work note, then runs the command behind its guard: the guard's pid goes to the loop,
    /// which records it and opens `release`; only then does the command run.
    func run(_ task: ActiveTask, spec: CommandSpec, stop: StopTrigger, release: ReleaseGate) async {
        if let service, let change = task.change, task.project.workNotes, !stop.isFired {
            do {
                _ = try await service.updateChange(sysID: change.sysID, ChangeUpdate(workNotes: WorkNotes.starting(task)))
            } catch {
                // A missing note must not block an approved deployment; the task log records it.
                output.append(.init(taskID: task.id, at: Date(), stream: .stderr,
                                    text: "changegate: could not add the start work note to \(change.number): \(error)"))
            }
        }
        let (taskID, inbox, output) = (task.id, self.inbox, self.output)
        let result: Result<RunResult, ExecutorError>
        do throws(ExecutorError) {
            let r = try await GuardedRun.run(spec, timeout: task.project.executionTimeout, killGrace: task.project.killGrace, stop: stop,
                                             onSpawn: { identity in
                                                 inbox.post(.childSpawned(taskID: taskID, identity))
                                                 return await release.wait()
                                             },
                                             onOutput: { stream, line in
                                                 output.append(.init(taskID: taskID, at: Date(), stream: stream, text: line))
                                             })
            result = .success(r)
        } catch {
            result = .failure(error)
        }
        inbox.post(.childExited(taskID: taskID, result))
    }
}

enum WorkNotes {
    static func starting(_ task: ActiveTask) -> String {
        "changegate task \(task.id): starting the deployment of \(task.request.project) \(task.request.release) to \(task.request.environment)"
            + (task.request.requestedBy.map { ", requested by \($0)" } ?? "") + "."
            + (task.conflictVerdict.flatMap { $0.status == .conflict ? "\nStarted although the conflict check reports \(StateMachine.describe($0.conflicts)) (conflict_check = warn)." : nil } ?? "")
    }

    static func finished(_ task: ActiveTask, duration: Duration?) -> String {
        var parts = ["changegate task \(task.id): deployment of \(task.request.project) \(task.request.release) to \(task.request.environment) ended",
                     "outcome: \(task.outcome?.rawValue ?? "unknown")"]
        if let code = task.exitCode { parts.append("exit code: \(code)") }
        if let duration { parts.append(String(format: "duration: %.1f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)) }
        if let reason = task.reason { parts.append("reason: \(reason)") }
        return parts.joined(separator: "\n")
    }
}
