import ChangegateConfig
import Executor
import Foundation
import Logging
import QueueStore
import ServiceNowClient
import ServiceNowModel
import QueueContract
import StateMachine
import Systemd

extension Scheduler {
    /// Starts the work the committed pass asked for, plus work owed by tasks that are idle in a working state
    /// (after a restart, or a transient failure whose retry time came).
    func startEffects(_ loop: inout LoopState, group: inout DiscardingTaskGroup, config: ChangegateConfiguration, now: Date) {
        var wanted: [(Int64, Effect)] = loop.pendingEffects
        loop.pendingEffects = []
        let asked = Set(wanted.map(\.0))
        var running = slotCounts(loop)
        for (id, task) in loop.tasks where !task.busy && !asked.contains(id) && (task.retryAfter ?? .distantPast) <= now {
            switch task.state {
            case .creatingChange where !loop.draining: wanted.append((id, .resolveChange))
            case .implementCheck where !loop.draining && running[task.slotKey, default: 0] < task.project.maxConcurrent:
                wanted.append((id, .freshChangeRead))
            case .completing: wanted.append((id, .complete(outcome: task.outcome ?? .interrupted)))
            default: break
            }
        }
        // ServiceNow work in flight per connection is capped: a burst of rows must not become a burst of child
        // tasks all queueing for the same few connections (memory and the instance's rate limits).
        var inFlight: [String: Int] = [:]
        for task in loop.tasks.values where task.busy && task.state != .executing {
            inFlight[task.connection ?? "", default: 0] += 1
        }
        for (id, effect) in wanted {
            guard var task = loop.tasks[id] else { continue }
            let connection = task.connection ?? ""
            if case .complete = effect, task.change == nil || !task.controlled {
                // Nothing to tell ServiceNow; not capped.
            } else if !isStart(effect), !(effect == .freshChangeRead && task.state == .awaitingApproval),
                      inFlight[connection, default: 0] >= Self.maxServiceNowWork(connections.client(connection)) {
                continue  // owed work: picked up again by a later pass
            }
            if !isStart(effect) { inFlight[connection, default: 0] += 1 }
            let client = connections.client(task.connection)
            let inbox = self.inbox
            task.busy = true
            task.retryAfter = nil
            switch effect {
            case .resolveChange:
                guard let client else { missingConnection(&task, &loop); continue }
                let resolver = ChangeResolver(client: client, connectionName: task.connection ?? "")
                let snapshot = task
                group.addTask { inbox.post(.resolved(taskID: id, await resolver.resolve(snapshot))) }
            case .freshChangeRead where task.state == .awaitingApproval:
                // Rejected in the batched read: fetch the approvers for the rejection comment, then decide.
                guard let client, let change = task.change else { continue }
                group.addTask {
                    let approvers = try? await client.approvers(ofChange: change.sysID)
                    let comment = approvers?.first(where: { $0.state == .rejected && !$0.comments.isEmpty })
                        .map { "\($0.approverName): \(JournalText.newestEntry($0.comments))" }
                    inbox.post(.rejection(taskID: id, change, comment: comment))
                }
            case .freshChangeRead:
                guard let client, let sysID = task.change?.sysID else { missingConnection(&task, &loop); continue }
                if running[task.slotKey, default: 0] >= task.project.maxConcurrent { task.busy = false; loop.tasks[id] = task; continue }
                group.addTask {
                    do throws(ServiceNowError) {
                        let change = try await client.change(sysID: sysID)
                        // Who approved, for the audit trail; a failed read is recorded, it never blocks the start.
                        var approvers: Result<[ApproverRecord], ServiceNowError>?
                        if change.state == .implement, change.approval != .rejected {
                            do throws(ServiceNowError) { approvers = .success(try await client.approvers(ofChange: sysID)) } catch { approvers = .failure(error) }
                        }
                        inbox.post(.freshStatus(taskID: id, .success(change), approvers: approvers))
                    } catch {
                        inbox.post(.freshStatus(taskID: id, .failure(error)))
                    }
                }
            case .startDeployment:
                running[task.slotKey, default: 0] += 1
                let stop = StopTrigger()
                task.stop = stop
                let spec = DeploymentRunner.commandSpec(for: task, daemonEnvironment: daemonEnvironment)
                let runner = DeploymentRunner(client: task.controlled ? client : nil, inbox: inbox, output: output, logger: logger)
                let snapshot = task
                group.addTask { await runner.run(snapshot, spec: spec, stop: stop) }
            case .complete:
                if task.change == nil || !task.controlled {
                    // Nothing to tell ServiceNow: finish in the next pass without a child task.
                    inbox.post(.completed(taskID: id, notes: []))
                } else {
                    let store = self.store
                    let completer = Completer(client: client, otherUsers: { number, me in
                        (try? store.otherActiveTasks(usingChange: number, excluding: me)) ?? []
                    })
                    let snapshot = task
                    group.addTask {
                        let (notes, audit) = await completer.complete(snapshot, duration: snapshot.runDuration)
                        inbox.post(.completed(taskID: id, notes: notes, audit: audit))
                    }
                }
            case .stopDeployment:
                task.busy = false
            }
            loop.tasks[id] = task
        }
    }

    static func maxServiceNowWork(_ client: ServiceNowClient?) -> Int {
        2 * max(4, client?.configuration.maxConcurrentRequests ?? 4)
    }

    func isStart(_ effect: Effect) -> Bool {
        if case .startDeployment = effect { return true }
        if case .stopDeployment = effect { return true }
        return false
    }

    func missingConnection(_ task: inout ActiveTask, _ loop: inout LoopState) {
        task.busy = false
        task.retryAfter = Date().addingTimeInterval(30)
        noteIntegrationError(task, "project \(task.project.name) names connection \(task.connection ?? "none"), which is not configured; fix projects.\(task.project.name).connection", &loop)
    }

    /// One batched status read per connection per poll interval, for every change a task waits on or runs under.
    /// Tasks sharing a change share its read: the cost follows the number of changes, not of deployments.
    func startPolls(_ loop: inout LoopState, group: inout DiscardingTaskGroup, config: ChangegateConfiguration, now: Date) {
        var numbers: [String: Set<String>] = [:]
        for task in loop.tasks.values where task.state == .awaitingApproval || (task.state == .executing && task.controlled) {
            guard let connection = task.connection, let number = task.change?.number else { continue }
            numbers[connection, default: []].insert(number)
        }
        for (connection, set) in numbers where !loop.pollsInFlight.contains(connection) {
            if let next = loop.nextPoll[connection], next > now { continue }
            guard let client = connections.client(connection) else { continue }
            loop.pollsInFlight.insert(connection)
            loop.nextPoll[connection] = now.addingTimeInterval(config.daemon.pollInterval.seconds)
            let list = set.sorted()
            let inbox = self.inbox
            group.addTask {
                do throws(ServiceNowError) { inbox.post(.statuses(connection: connection, numbers: list, .success(try await client.statuses(numbers: list)))) } catch {
                    inbox.post(.statuses(connection: connection, numbers: list, .failure(error)))
                }
            }
        }
    }

    /// Writes buffered child output to the task log and the journal, with the fields of the task in `tasks`
    /// (TASK_ID always; PROJECT, ENVIRONMENT, RELEASE, CHANGE_NUMBER… when known, so that
    /// `journalctl CHANGE_NUMBER=…` shows the deploy output too).
    func flushOutput(_ tasks: [Int64: ActiveTask] = [:]) {
        let (lines, dropped) = output.take()
        guard !lines.isEmpty else { return }
        do {
            var records = lines.map { LogLine(taskID: $0.taskID, at: $0.at, stream: $0.stream == .stdout ? .stdout : .stderr, text: $0.text) }
            if dropped > 0, let last = lines.last {
                records.append(LogLine(taskID: last.taskID, at: Date(), stream: .stderr, text: "changegate: \(dropped) output lines were dropped while the database was not writable"))
            }
            try store.appendLog(records)
        } catch {
            output.putBack(lines)
            return
        }
        for line in lines {
            var metadata = (tasks[line.taskID]?.metadata ?? [:]).mapValues { Logger.MetadataValue.string($0) }
            metadata["task_id"] = .string("\(line.taskID)")
            metadata["stream"] = .string(line.stream.rawValue)
            metadata["message_id"] = MessageID.deployOutput.metadataValue
            logger.info("\(line.text)", metadata: metadata)
        }
    }
}
