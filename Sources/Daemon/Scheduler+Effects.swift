import ChangegateConfig
import Executor
import Foundation
import QueueContract
import QueueStore
import ServiceNowClient
import ServiceNowModel
import StateMachine

extension Scheduler {
    /// Performs the effects of a committed step, in order. Each result comes back through the inbox.
    func startEffects(_ effects: [(Int64, Effect)], _ loop: inout LoopState, group: inout DiscardingTaskGroup, now: Date) {
        for (id, effect) in effects {
            guard var task = loop.tasks[id] else { continue }
            switch effect {
            case .requestSlot:
                continue  // settled before the write (`allocateSlots`); never left for here
            case .releaseChild:
                task.release?.open(true)
                continue
            case .retry(let after):
                task.retryGeneration += 1
                loop.deadlines.push(.init(at: now.addingTimeInterval(after.seconds), id: id, kind: .retry, generation: task.retryGeneration))
            case .startDeployment:
                startDeployment(&task, &loop, group: &group)
            case .stopLeftover:
                guard let identity = task.identity, task.work == nil else { continue }
                begin(.leftover, &task, &loop)
                let (inbox, grace) = (self.inbox, task.project.killGrace)
                group.addTask { inbox.post(.leftover(taskID: id, await LeftoverGroup.stop(identity, grace: grace))) }
            case .complete where !needsServiceNowToComplete(task):
                continue  // `feed` completed it in the step that decided it
            case .resolveChange, .freshChangeRead, .fetchRejectionComment, .complete, .runConflictCheck, .readConflictReport, .readBlackouts:
                guard let connection = task.connection, services[connection] != nil else {
                    loop.followUps.append((id, .serviceNowFailed(reason: "project \(task.project.name) names connection \(task.connection ?? "none"), which is not configured; fix projects.\(task.project.name).connection", transient: false)))
                    continue
                }
                loop.owedWork[connection, default: []].append((id, effect))
                continue
            case .stopDeployment:
                continue  // done when decided
            }
            loop.tasks[id] = task
        }
        startOwedWork(&loop, group: &group)
    }

    /// Starts waiting ServiceNow work while each connection has room, oldest first. A burst of rows must not
    /// become a burst of child tasks all queueing for the same few connections (memory, instance rate limits).
    func startOwedWork(_ loop: inout LoopState, group: inout DiscardingTaskGroup) {
        for (connection, queue) in loop.owedWork where !queue.isEmpty {
            guard let service = services[connection] else { continue }
            var rest = queue[...]
            var busy: [(Int64, Effect)] = []
            while let (id, effect) = rest.first, loop.workInFlight[connection, default: 0] < service.maxWorkInFlight {
                rest = rest.dropFirst()
                guard var task = loop.tasks[id] else { continue }
                // Work still runs for the task (a read that began before a deadline ended it): this effect waits
                // for it rather than being lost, or a task could stay in completing for good.
                if task.work != nil { busy.append((id, effect)); continue }
                if loop.draining, effect == .resolveChange || effect == .freshChangeRead { continue }  // recovery picks them up
                begin(.serviceNow(connection: connection), &task, &loop)
                loop.tasks[id] = task
                startServiceNowWork(effect, task, service, group: &group)
            }
            let owed = busy + Array(rest)
            loop.owedWork[connection] = owed.isEmpty ? nil : owed
        }
    }

    func begin(_ work: Work, _ task: inout ActiveTask, _ loop: inout LoopState) {
        task.work = work
        loop.busy += 1
        if case .serviceNow(let connection) = work { loop.workInFlight[connection, default: 0] += 1 }
    }

    func finishWork(_ task: inout ActiveTask, _ loop: inout LoopState) {
        guard let work = task.work else { return }
        task.work = nil
        loop.busy -= 1
        if case .serviceNow(let connection) = work { loop.workInFlight[connection, default: 0] -= 1 }
    }

    private func startServiceNowWork(_ effect: Effect, _ task: ActiveTask, _ service: any ChangeService, group: inout DiscardingTaskGroup) {
        let (inbox, id) = (self.inbox, task.id)
        switch effect {
        case .resolveChange:
            let resolver = ChangeResolver(service: service, items: ciCache)
            group.addTask { inbox.post(.resolved(taskID: id, await resolver.resolve(task))) }
        case .fetchRejectionComment:
            guard let change = task.change else { return }
            group.addTask {
                let approvers = try? await service.approvers(ofChange: change.sysID)
                let comment = approvers?.first(where: { $0.state == .rejected && !$0.comments.isEmpty })
                    .map { "\($0.approverName): \(JournalText.newestEntry($0.comments))" }
                inbox.post(.rejection(taskID: id, change, comment: comment))
            }
        case .freshChangeRead:
            guard let sysID = task.change?.sysID else { return }
            group.addTask {
                do throws(ServiceNowError) {
                    let change = try await service.change(sysID: sysID)
                    // Who approved, for the audit trail; a failed read is recorded, it never blocks the start.
                    var approvers: Result<[ApproverRecord], ServiceNowError>?
                    if change.state == .implement, change.approval != .rejected {
                        do throws(ServiceNowError) { approvers = .success(try await service.approvers(ofChange: sysID)) } catch { approvers = .failure(error) }
                    }
                    inbox.post(.freshStatus(taskID: id, .success(change), approvers: approvers))
                } catch {
                    inbox.post(.freshStatus(taskID: id, .failure(error)))
                }
            }
        case .runConflictCheck, .readConflictReport:
            guard let sysID = task.change?.sysID else { return }
            let run = effect == .runConflictCheck
            group.addTask {
                do throws(ServiceNowError) {
                    if run { try await service.runConflictCheck(sysID: sysID) }
                    inbox.post(.conflict(taskID: id, .success(try await service.conflictReport(sysID: sysID))))
                } catch {
                    inbox.post(.conflict(taskID: id, .failure(error)))
                }
            }
        case .readBlackouts:
            guard let change = task.change else { return }
            // From now to the end of the planned window, or as long as the command may run.
            let from = clock.now()
            let reach = task.project.executionTimeout?.seconds ?? 86_400
            let to = max(change.plannedEnd ?? from.addingTimeInterval(reach), from.addingTimeInterval(60))
            group.addTask {
                do throws(ServiceNowError) {
                    inbox.post(.blackouts(taskID: id, .success(try await service.blackoutSpans(changeSysID: change.sysID, from: from, to: to))))
                } catch {
                    inbox.post(.blackouts(taskID: id, .failure(error)))
                }
            }
        case .complete:
            let store = self.store
            let completer = Completer(service: service, now: { [clock] in clock.now() }, otherUsers: { number, me in
                (try? await store.otherUsers(ofChange: number, excluding: me)) ?? []
            }, evidenceSource: { id, maxBytes in
                // Pages of the log until the cap is passed: the evidence cuts it there anyway.
                var log: [LogLine] = [], bytes = 0
                while bytes <= maxBytes, let page = try? await store.log(of: id, after: log.last?.id ?? 0, limit: 10_000), !page.isEmpty {
                    log += page
                    bytes += page.reduce(0) { $0 + $1.text.utf8.count + 40 }
                }
                return (log, (try? await store.auditRecords(ofTask: id)) ?? [])
            })
            group.addTask {
                let (notes, audit) = await completer.complete(task, duration: task.runDuration)
                inbox.post(.completed(taskID: id, notes: notes, audit: audit))
            }
        default:
            break
        }
    }

    private func startDeployment(_ task: inout ActiveTask, _ loop: inout LoopState, group: inout DiscardingTaskGroup) {
        if task.adoptedGuard {  // its guard was spawned while it waited, and handed over with the slot
            task.adoptedGuard = false
            begin(.deployment, &task, &loop)
            if task.abort != nil {
                task.stop?.fire()
                task.release?.open(false)
            }
            return
        }
        let stop = StopTrigger()
        let release = ReleaseGate()
        if task.abort != nil {  // stopped in the same step that started it: the guard is never released
            stop.fire()
            release.open(false)
        }
        task.stop = stop
        task.release = release
        begin(.deployment, &task, &loop)
        let spec = DeploymentRunner.commandSpec(for: task, daemonEnvironment: daemonEnvironment)
        let service = task.controlled ? task.connection.flatMap { services[$0] } : nil
        let runner = DeploymentRunner(service: service, inbox: inbox, output: output)
        let snapshot = task
        group.addTask { await runner.run(snapshot, spec: spec, stop: stop, release: release) }
    }
}
