import Executor
import Foundation
import StateMachine

/// A guard spawned for the next deployment in line while every slot of its key is taken (see `armNextGuards`).
struct ArmedGuard {
    var stop: StopTrigger
    var release: ReleaseGate
    /// What the guard holds: adopted only if the task would still run exactly this (a reload may change it).
    var spec: CommandSpec
    /// Known once the guard reported its spawn.
    var identity: ChildIdentity?
}

extension Scheduler {
    /// With every slot of a key taken, the next deployment in line gets its guard spawned now, while the current one
    /// runs. The guard runs nothing until its pid is written, in the step that hands the task its slot, so spawning it
    /// early is safe (if the daemon dies first, the guard's pipe closes and it exits without running anything); and
    /// the spawn no longer sits between one deployment and the next. Only deployments whose environment is final while
    /// they wait are armed: not change controlled, so no change number is added later and no start work note comes first.
    /// The next two are armed: a spawn takes about as long as a no-op deployment runs, so the guard of the very next
    /// one alone is often not ready when its turn comes, and its pid would need a write of its own.
    func armNextGuards(_ keys: Set<String>, _ loop: inout LoopState, group: inout DiscardingTaskGroup) {
        guard !loop.draining else { return }
        for key in keys {
            for id in loop.slots.nextWaiters(key, limit: Self.armedPerKey) { armGuard(id, &loop, group: &group) }
        }
    }

    static let armedPerKey = 2

    private func armGuard(_ id: Int64, _ loop: inout LoopState, group: inout DiscardingTaskGroup) {
        guard loop.armed[id] == nil, let task = loop.tasks[id],
              task.state == .queued, task.waitingForSlot, !task.controlled, task.work == nil,
              task.abort == nil, !task.cancelRequested else { return }
        let (stop, release) = (StopTrigger(), ReleaseGate())
        let spec = DeploymentRunner.commandSpec(for: task, daemonEnvironment: daemonEnvironment)
        loop.armed[id] = ArmedGuard(stop: stop, release: release, spec: spec)
        let runner = DeploymentRunner(service: nil, inbox: inbox, output: output)
        group.addTask { await runner.run(task, spec: spec, stop: stop, release: release) }
    }

    /// Reports of an armed guard not yet handed to its task: its spawn is remembered, its end forgotten (it was
    /// disarmed, or died before its turn). True when the event was one of those.
    func handleArmed(_ event: SchedulerEvent, _ loop: inout LoopState) -> Bool {
        guard let id = event.taskID, loop.armed[id] != nil else { return false }
        switch event {
        case .childSpawned(_, let identity):
            loop.armed[id]?.identity = identity
            return true
        case .childExited:
            loop.armed[id] = nil
            return true
        default:
            return false
        }
    }

    /// The task was granted its slot in this step: if its armed guard still holds what it would run, the task takes
    /// it over, and a spawn already reported is decided in this same step (so the pid is written with the start).
    func adoptArmedGuard(_ id: Int64, _ loop: inout LoopState, _ batch: inout Batch, now: Date) {
        guard let armed = loop.armed[id], var task = batch.task(id, in: loop), task.state == .executing, task.stop == nil else { return }
        loop.armed[id] = nil
        guard armed.spec == DeploymentRunner.commandSpec(for: task, daemonEnvironment: daemonEnvironment) else {
            disarm(armed)  // the task starts a fresh guard through its startDeployment effect
            return
        }
        task.stop = armed.stop
        task.release = armed.release
        task.adoptedGuard = true
        batch.updated[id] = task
        if let identity = armed.identity { childSpawned(task, identity, &batch, now: now) }
    }

    /// The guard exits 125 without running anything.
    func disarm(_ armed: ArmedGuard) {
        armed.release.open(false)
        armed.stop.fire()
    }
}
