import Foundation
import Logging
import QueueStore
import ServiceNowClient
import ServiceNowModel
import Systemd

extension Scheduler {
    /// One poll per connection per `poll_interval`, for every change a task waits on or runs under: a delta read of
    /// the changes updated since the previous poll (one request however many tasks wait, +1 a page of updates), plus
    /// a read by number of changes newly watched; every `reconcile_interval`, and after any failure, a full batched
    /// read of every watched change instead, so an update the delta missed cannot strand a task. Tasks sharing a
    /// change share its read. Polls wait for the connection's request budget; the reconcile has priority.
    func startPolls(_ loop: inout LoopState, group: inout DiscardingTaskGroup, now: Date) {
        for (connection, poll) in loop.polls {
            guard !poll.inFlight, let due = poll.nextAt, due <= now else { continue }
            guard loop.watch.isWatching(on: connection), let service = services[connection] else {
                loop.polls[connection] = nil  // nothing to watch: the next watched task schedules one
                continue
            }
            let settings = config.daemon
            let pages = (loop.watch.count(on: connection) + service.readBatchSize - 1) / service.readBatchSize
            let reconcileEvery = service.requestBudget.reconcileInterval(base: settings.reconcileInterval.seconds, requests: pages)
            let full = poll.syncedFrom == nil || poll.lastFull.map { now.timeIntervalSince($0) >= reconcileEvery } ?? true
            let allowed = service.requestBudget.pollStart(due: now, priority: full)
            if allowed > now {
                loop.polls[connection]?.nextAt = allowed
                noteStretch(connection, to: allowed.timeIntervalSince(due) + settings.pollInterval.seconds, service, &loop)
                continue
            }
            if poll.stretchedTo != nil, now.timeIntervalSince(due) < 0.5 { noteStretch(connection, to: nil, service, &loop) }
            // The cadence counts from each poll's start, so a slow answer does not stretch the interval.
            loop.polls[connection]?.inFlight = true
            metrics?.pollCycle(connection: connection, lag: now.timeIntervalSince(due))
            let interval = settings.pollInterval.seconds
            let next = due.addingTimeInterval(interval)
            loop.polls[connection]?.nextAt = next > now ? next : now.addingTimeInterval(interval)
            let cycle = PollCycle(start: now, full: full)
            let inbox = self.inbox
            if full {
                let numbers = loop.watch.numbers(on: connection)
                loop.watch.synced(on: connection)
                group.addTask {
                    do throws(ServiceNowError) {
                        inbox.post(.statuses(connection: connection, numbers: numbers, .success(try await service.statuses(numbers: numbers)), cycle: cycle))
                    } catch {
                        inbox.post(.statuses(connection: connection, numbers: numbers, .failure(error), cycle: cycle))
                    }
                }
                continue
            }
            // Whole seconds, rounded up, reaching back past the previous poll's start by the overlap.
            let since = Int((now.timeIntervalSince(poll.syncedFrom ?? now) + settings.pollOverlap.seconds).rounded(.up))
            let fresh = loop.watch.takeUnsynced(on: connection)
            group.addTask {
                do throws(ServiceNowError) {
                    let found = try await Self.deltaRead(service, since: since, fresh: fresh)
                    inbox.post(.statuses(connection: connection, numbers: fresh, .success(found), cycle: cycle))
                } catch {
                    inbox.post(.statuses(connection: connection, numbers: fresh, .failure(error), cycle: cycle))
                }
            }
        }
    }

    /// The delta and the read of newly watched changes, side by side; where both hold a change, the later copy wins.
    private static func deltaRead(_ service: any ChangeService, since: Int, fresh: [String]) async throws(ServiceNowError) -> [String: ChangeSnapshot] {
        async let updated = Self.result { () async throws(ServiceNowError) in try await service.changesUpdated(withinLast: since) }
        var found = fresh.isEmpty ? [:] : try await service.statuses(numbers: fresh)
        for change in try await updated.get() {
            if let known = found[change.number], (known.updatedOn ?? .distantPast) > (change.updatedOn ?? .distantPast) { continue }
            found[change.number] = change
        }
        return found
    }

    private static func result<T>(_ body: () async throws(ServiceNowError) -> T) async -> Result<T, ServiceNowError> {
        do throws(ServiceNowError) { return .success(try await body()) } catch { return .failure(error) }
    }

    /// A poll's answer: the next delta reaches back to this poll's start; after a failure the next poll is a full read.
    func pollEnded(_ cycle: PollCycle, connection: String, failed: Bool, _ loop: inout LoopState) {
        guard loop.polls[connection] != nil else { return }
        loop.polls[connection]?.inFlight = false
        if failed {
            loop.polls[connection]?.syncedFrom = nil
        } else {
            loop.polls[connection]?.syncedFrom = cycle.start
            if cycle.full { loop.polls[connection]?.lastFull = cycle.start }
        }
    }

    /// Says once (journal, `changegate status`) that the budget stretches a connection's polls, and when it no longer does.
    private func noteStretch(_ connection: String, to interval: TimeInterval?, _ service: any ChangeService, _ loop: inout LoopState) {
        let was = loop.polls[connection]?.stretchedTo
        // Re-announce only when the stretch changes noticeably, not on every poll.
        if let interval, let was, abs(interval - was) < max(1, was * 0.25) { return }
        if interval == nil, was == nil { return }
        loop.polls[connection]?.stretchedTo = interval
        let figures = service.requestBudget.figures()
        let limit = "requests_per_hour = \(figures.perHour)\(figures.fromInstance ? " (the instance's X-RateLimit-Limit)" : "")"
        let text: String
        if let interval {
            text = "polls stretched to every \(String(format: "%.1f", interval)) s to stay within \(limit); \(figures.lastHour) requests in the last hour"
            logger.notice("ServiceNow connection '\(connection)': \(text)", metadata: ["message_id": MessageID.pollBudget.metadataValue])
        } else {
            text = "polls every \(String(format: "%.1f", config.daemon.pollInterval.seconds)) s again, within \(limit)"
            logger.notice("ServiceNow connection '\(connection)': \(text)", metadata: ["message_id": MessageID.pollBudget.metadataValue])
        }
        loop.daemonNotes.append(("poll.\(connection)", interval == nil ? nil : text))
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
