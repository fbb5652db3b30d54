import Foundation
import Logging
import QueueStore
import ServiceNowClient
import ServiceNowModel
import Systemd

extension Scheduler {
    /// One batched status read per connection per poll interval, for every change a task waits on or runs under.
    /// Tasks sharing a change share its read: the cost follows the number of changes, not of deployments.
    func startPolls(_ loop: inout LoopState, group: inout DiscardingTaskGroup, now: Date) {
        for (connection, poll) in loop.polls {
            guard !poll.inFlight, let due = poll.nextAt, due <= now else { continue }
            let numbers = loop.watch.numbers(on: connection)
            guard !numbers.isEmpty, let service = services[connection] else {
                loop.polls[connection] = nil  // nothing to watch: the next watched task schedules one
                continue
            }
            // The cadence counts from each poll's start, so a slow answer does not stretch the interval.
            loop.polls[connection]?.inFlight = true
            metrics?.pollCycle(connection: connection, lag: now.timeIntervalSince(due))
            let interval = config.daemon.pollInterval.seconds
            let next = due.addingTimeInterval(interval)
            loop.polls[connection]?.nextAt = next > now ? next : now.addingTimeInterval(interval)
            let inbox = self.inbox
            group.addTask {
                do throws(ServiceNowError) {
                    inbox.post(.statuses(connection: connection, numbers: numbers, .success(try await service.statuses(numbers: numbers))))
                } catch {
                    inbox.post(.statuses(connection: connection, numbers: numbers, .failure(error)))
                }
            }
        }
    }

    /// Child output written in a step goes to the journal with the fields of its task (TASK_ID always;
    /// PROJECT, ENVIRONMENT, RELEASE, CHANGE_NUMBER… when known, so `journalctl CHANGE_NUMBER=…` shows it too).
    func journal(_ lines: [OutputBuffer.QueuedLine], _ loop: LoopState) {
        for line in lines {
            var metadata = (loop.tasks[line.taskID]?.metadata ?? [:]).mapValues { Logger.MetadataValue.string($0) }
            metadata["task_id"] = .string("\(line.taskID)")
            metadata["stream"] = .string(line.stream.rawValue)
            metadata["message_id"] = MessageID.deployOutput.metadataValue
            logger.info("\(line.text)", metadata: metadata)
        }
    }

    /// The last output before the loop ends.
    func flushOutput(_ loop: LoopState) async {
        let (lines, _) = output.take()
        guard !lines.isEmpty else { return }
        let log = lines.map { LogLine(taskID: $0.taskID, at: $0.at, stream: $0.stream == .stdout ? .stdout : .stderr, text: $0.text) }
        if (try? await store.commit([], log: log, at: clock.now())) != nil { journal(lines, loop) }
    }

    func noteIntegrationError(_ task: ActiveTask, _ message: String, _ loop: inout LoopState) {
        noteIntegrationError(connection: task.connection ?? "-", taskID: task.id, message, &loop)
    }

    /// Records an integration error for `status` and `doctor`, at most once a minute per distinct message.
    func noteIntegrationError(connection: String, taskID: Int64?, _ message: String, _ loop: inout LoopState) {
        let now = clock.now()
        if let (last, at) = loop.lastIntegrationError[connection], last == message, now.timeIntervalSince(at) < 60 { return }
        loop.lastIntegrationError[connection] = (message, now)
        // Client errors already name their connection; others (a missing connection) say what to fix.
        logger.error("\(message.hasPrefix("ServiceNow connection") ? message : "ServiceNow connection '\(connection)': \(message)")",
                     metadata: ["message_id": MessageID.integrationError.metadataValue, "task_id": .string(taskID.map(String.init) ?? "")])
        loop.integrationErrors.append((connection, taskID, message, now))
    }
}
