@testable import Daemon
import TestSupport
import Foundation
import QueueContract
import QueueStore
import ServiceNowClient
import ServiceNowModel
import Testing

@Suite(.serialized, .ownThreads) struct SchedulerTests {
    static let config = environments + simConnection + project("web", command: "true")
        + project("batch", command: "true", controlled: false)

    @Test func aControlledDeploymentWaitsForImplementThenRuns() async throws {
        try await SchedulerHarness.with(Self.config) { h in
            let id = try h.enqueue("web")
            let waiting = try await h.wait(id, .awaitingApproval)
            let number = try #require(waiting.changeNumber)
            #expect(waiting.changeLink == .createdNormal)
            h.sim.set(number, state: .implement, approval: .approved)
            h.advance(by: 3)  // one poll interval
            let done = try await h.wait(id, .succeeded, .failed)
            #expect(done.outcome == .succeeded)
            #expect(h.sim.notes(number).count == 2, "a start and an end work note")
            #expect(try h.log(id).contains("held by its guard until the pid is recorded"))
        }
    }

    @Test func eachPollIsOneDeltaReadHoweverManyWait() async throws {
        try await SchedulerHarness.with(Self.config) { h in
            let shared = h.sim.put(state: .scheduled, approval: .requested)
            let other = h.sim.put(state: .assess, approval: .requested)
            let ids = try (0..<5).map { try h.enqueue("web", release: "\($0)", changeNumber: shared.number) }
                + [try h.enqueue("web", release: "x", changeNumber: other.number)]
            for id in ids { try await h.wait(id, .awaitingApproval) }
            // The first poll reads every watched change by number; later ones only ask what was updated.
            try await h.pollOnce()
            try await h.pollOnce()
            let (reads, deltas) = (h.sim.polls.count, h.sim.deltas.count)
            for _ in 0..<3 { try await h.pollOnce() }
            #expect(h.sim.deltas.count == deltas + 3, "one delta read a poll for six waiting deployments")
            #expect(h.sim.polls.count == reads, "no read by number while nothing new is watched")
            for reach in h.sim.deltas.suffix(3) {
                #expect(reach == 6, "each delta reaches back one poll interval (1 s) plus the overlap (5 s)")
            }
            #expect(h.sim.polls.contains { $0 == [shared.number, other.number].sorted() }, "the full read asks each change once")
        }
    }

    @Test func anUpdateTheDeltaCannotSeeIsFoundByTheReconcile() async throws {
        try await SchedulerHarness.with(Self.config) { h in
            let change = h.sim.put(state: .scheduled, approval: .approved)
            let id = try h.enqueue("web", changeNumber: change.number)
            try await h.wait(id, .awaitingApproval)
            for _ in 0..<8 { try await h.pollOnce() }  // the change's last update is now older than any delta reaches
            h.sim.setUnseen(change.number, state: .implement)  // sys_updated_on left as it was
            for _ in 0..<3 { try await h.pollOnce() }
            #expect(try h.row(id).state == .awaitingApproval, "the delta does not return the change")
            let reads = h.sim.polls.count
            h.advance(by: 60)  // reconcile_interval
            try await h.wait(id, .succeeded, .failed)
            #expect(h.sim.polls.count > reads, "the reconcile read it by number")
        }
    }

    @Test func afterAFailedPollTheNextOneReadsEveryWatchedChange() async throws {
        try await SchedulerHarness.with(Self.config) { h in
            let change = h.sim.put(state: .scheduled, approval: .approved)
            let id = try h.enqueue("web", changeNumber: change.number)
            try await h.wait(id, .awaitingApproval)
            try await h.pollOnce()
            try await h.pollOnce()
            h.sim.fail("delta", with: .timeout(connection: "sim"))
            try await h.pollOnce()
            let reads = h.sim.polls.count
            try await h.pollOnce()
            #expect(h.sim.polls.count == reads + 1, "a full read follows the failure")
            #expect(h.sim.polls.last == [change.number])
        }
    }

    /// With the only slot taken, the guards of the next two deployments are spawned while the current one runs, hold
    /// their commands until their turn, and become those deployments (the pid recorded is the armed guard's).
    /// Cancelling a task whose guard is armed ends the guard without running anything.
    @Test func theNextDeploymentsGuardWaitsArmedAndIsAdoptedOrEnded() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cg-armed-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = environments + simConnection
            + project("one", command: "echo ran >> \(dir)/$CHANGEGATE_TASK_ID; while [ ! -e \(dir)/go-$CHANGEGATE_TASK_ID ]; do sleep 0.02; done",
                      controlled: false, extra: "max_concurrent = 1")
        try await SchedulerHarness.with(config) { h in
            let first = try h.enqueue("one", "Staging")
            try await h.wait(first, .executing)
            let second = try h.enqueue("one", "Staging")
            let third = try h.enqueue("one", "Staging")
            let fourth = try h.enqueue("one", "Staging")
            var armed: Int32?
            var thirdGuard: Int32?
            try await eventually("the guards of the next two deployments armed") {
                (armed, thirdGuard) = (guardProcess(task: second), guardProcess(task: third))
                return armed != nil && thirdGuard != nil
            }
            #expect(guardProcess(task: fourth) == nil, "only the next two in line are armed")
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/\(second)"), "an armed guard runs nothing")
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/\(third)"), "an armed guard runs nothing")
            #expect(try h.row(second).state == .queued)
            try Data().write(to: URL(fileURLWithPath: "\(dir)/go-\(first)"))
            try await h.wait(second, .executing)
            #expect(try h.row(second).childPID == armed, "the second deployment is the guard that waited")
            try await eventually("the fourth deployment's guard armed once the second started") { guardProcess(task: fourth) != nil }
            // The third, armed, is cancelled: its guard ends and its command never runs.
            _ = try h.store.requestCancel(third)
            h.kick.yield()
            try await h.wait(third, .cancelled)
            try await eventually("the cancelled task's guard gone") { kill(thirdGuard!, 0) != 0 }
            try Data().write(to: URL(fileURLWithPath: "\(dir)/go-\(second)"))
            try Data().write(to: URL(fileURLWithPath: "\(dir)/go-\(fourth)"))
            #expect(try await h.wait(second, .succeeded).outcome == .notChangeControlled)
            #expect(try await h.wait(fourth, .succeeded).outcome == .notChangeControlled)
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/\(third)"), "the cancelled deployment never ran")
        }
    }

    @Test func theRequestBudgetStretchesPollsAndSaysSo() async throws {
        try await SchedulerHarness.with(Self.config, sim: FakeChangeService(requestsPerHour: 120)) { h in
            let change = h.sim.put(state: .scheduled, approval: .requested)
            let id = try h.enqueue("web", changeNumber: change.number)
            try await h.wait(id, .awaitingApproval)
            // 120 an hour allow a burst of 12 requests, then about one every 33 s.
            for _ in 0..<30 {
                h.advance(by: 1)
                try await Task.sleep(for: .milliseconds(30))
            }
            // On a loaded machine the loop may have slept through some of those seconds: the clock moves on a
            // little more (a second every 0.2 s, 15 s at most: half a refill) until the stretch shows.
            var extra = 0, tries = 0
            try await eventually("the stretch noted for changegate status") {
                if try h.store.daemonNotes().contains(where: { $0.key == "poll.sim" && $0.value.contains("requests_per_hour = 120") }) { return true }
                tries += 1
                if extra < 15, tries % 10 == 0 { h.advance(by: 1); extra += 1 }
                return false
            }
            #expect(h.sim.calls.count <= 14, "at most the burst (and the reserve) in \(30 + extra) s, not one a second")
            h.advance(by: 60)  // the budget refills enough for the reconcile, which has priority
            h.sim.set(change.number, state: .implement)
            h.advance(by: 60)
            try await h.wait(id, .succeeded, .failed)
        }
    }

    @Test func onlyMaxConcurrentDeploymentsRunAtOnceAndTheyStartInOrder() async throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("cg-slots-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: marker) }
        let config = environments + simConnection
            + project("batch", command: "echo start $CHANGEGATE_TASK_ID >> \(marker); sleep 0.2; echo end $CHANGEGATE_TASK_ID >> \(marker)",
                      controlled: false, extra: "max_concurrent = 2")
        try await SchedulerHarness.with(config) { h in
            let ids = try (0..<6).map { try h.enqueue("batch", "Staging", release: "\($0)") }
            for id in ids { #expect(try await h.wait(id, .succeeded, .failed).outcome == .notChangeControlled) }
            let lines = try String(contentsOfFile: marker, encoding: .utf8).split(separator: "\n")
            var running = 0, most = 0
            for line in lines {
                running += line.hasPrefix("start") ? 1 : -1
                most = max(most, running)
            }
            #expect(most == 2, "never more than max_concurrent, and the limit was used")
            // Grants are decided in order: each task's move to executing is logged after the one before it.
            let moves = try ids.map { id in try #require(try h.store.log(of: id).first { $0.text.hasPrefix("state queued → executing") }).id }
            #expect(moves == moves.sorted(), "slots are handed out first come, first served")
        }
    }

    @Test func theWindowEndStopsARunningDeploymentWithoutAPoll() async throws {
        let config = environments + simConnection + project("web", command: "sleep 30")
        try await SchedulerHarness.with(config) { h in
            let end = h.clock.now().addingTimeInterval(600)
            let change = h.sim.put(state: .implement, approval: .approved, start: h.clock.now().addingTimeInterval(-60), end: end)
            let id = try h.enqueue("web", changeNumber: change.number)
            try await h.wait(id, .executing)
            try await eventually("the child to be released") { try h.log(id).contains("deploy command spawned") && (try h.row(id).childPID != nil) }
            let polls = h.sim.polls.count
            h.advance(by: 601)
            let done = try await h.wait(id, .failed, .succeeded)
            #expect(done.outcome == .changeWindowClosed)
            #expect(h.sim.polls.count <= polls + 1, "the deadline stopped it; a poll need not")
        }
    }

    @Test func rowsWaitingForNotBeforeDoNotHoldUpNewerRows() async throws {
        try await SchedulerHarness.with(Self.config) { h in
            let later = h.clock.now().addingTimeInterval(3600)
            let waiting = try (0..<(Scheduler.intakeWindow + 10)).map { try h.enqueue("batch", "Staging", release: "\($0)", notBefore: later) }
            let fresh = try h.enqueue("batch", "Staging", release: "fresh")
            #expect(try await h.wait(fresh, .succeeded, .failed).outcome == .notChangeControlled)
            #expect(try h.row(waiting[0]).state == .queued && (try h.row(waiting.last!).state) == .queued)
            h.advance(by: 3601)
            #expect(try await h.wait(waiting[0], .succeeded, .failed).outcome == .notChangeControlled, "it runs once its time came")
        }
    }

    @Test func cancelWhileWaitingEndsWithANoteOnTheChange() async throws {
        try await SchedulerHarness.with(Self.config) { h in
            let id = try h.enqueue("web")
            let waiting = try await h.wait(id, .awaitingApproval)
            _ = try h.store.requestCancel(id)
            h.kick.yield()
            let done = try await h.wait(id, .cancelled)
            #expect(done.outcome == .cancelled)
            #expect(h.sim.notes(waiting.changeNumber!).last?.contains("outcome: cancelled") == true)
        }
    }

    @Test func aTransientFailureWhileCreatingIsRetriedAfterTheRetryDelay() async throws {
        try await SchedulerHarness.with(Self.config) { h in
            h.sim.fail("correlation", with: .serverError(connection: "sim", status: 503, message: "busy"))
            let id = try h.enqueue("web")
            try await eventually("the failed attempt") { try h.log(id).contains("will retry") }
            #expect(try h.row(id).state == .creatingChange)
            h.advance(by: 3)
            #expect(try await h.wait(id, .awaitingApproval).changeLink == .createdNormal)
            #expect(h.sim.all.count == 1)
        }
    }

    @Test func shutdownDrainsARunningDeployment() async throws {
        let config = environments + simConnection + project("batch", command: "sleep 1", controlled: false)
        var id: Int64 = 0
        var store: QueueStore?
        try await SchedulerHarness.with(config) { h in
            id = try h.enqueue("batch", "Staging")
            try await h.wait(id, .executing)
            store = h.store
        }
        // run() returned only after the deployment finished.
        #expect(try store?.task(id).outcome == .notChangeControlled)
    }

    /// Stopping finishes what runs and starts nothing new: the slot a drained deployment frees is not handed on.
    @Test func shutdownStartsNoDeploymentWaitingForTheSlot() async throws {
        let config = environments + simConnection + project("batch", command: "sleep 1", controlled: false)
        var first: Int64 = 0, second: Int64 = 0
        var store: QueueStore?
        try await SchedulerHarness.with(config) { h in
            first = try h.enqueue("batch", "Staging")
            second = try h.enqueue("batch", "Staging")
            try await h.wait(first, .executing)
            try await eventually("the second row to wait for the slot") {
                h.notices.all.contains { $0.contains("1 executing") && $0.contains("1 queued") }
            }
            store = h.store
        }
        #expect(try store?.task(first).outcome == .notChangeControlled)
        let waiting = try #require(try store?.task(second))
        #expect(waiting.state == .queued, "\(waiting)")
    }

    @Test func pastTheDrainTimeoutARunningDeploymentIsInterrupted() async throws {
        let config = "drain_timeout = \"1s\"\n" + environments + simConnection + project("batch", command: "sleep 30", controlled: false)
        var id: Int64 = 0
        var store: QueueStore?
        try await SchedulerHarness.with(config, whileDraining: { h in
            try await eventually("the drain to begin") { h.notices.all.contains { $0.contains("STOPPING=1") } }
            h.advance(by: 2)
        }) { h in
            id = try h.enqueue("batch", "Staging")
            try await eventually("the child running") { try h.log(id).contains("deploy command spawned") }
            store = h.store
        }
        let row = try #require(try store?.task(id))
        #expect(row.outcome == .interrupted)
        #expect(row.reason?.contains("it was stopped and will not be re-run") == true)
    }
}

/// The pid of a changegate guard still holding task `id`'s command, found through /proc (environment and argv).
func guardProcess(task id: Int64) -> Int32? {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    for entry in entries {
        guard let pid = Int32(entry),
              let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
              String(decoding: cmdline, as: UTF8.self).contains("changegate-guard"),
              let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
        let variables = environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        if variables.contains("CHANGEGATE_TASK_ID=\(id)") { return pid }
    }
    return nil
}
