@testable import Daemon
import Foundation
import QueueContract
import QueueStore
import ServiceNowClient
import ServiceNowModel
import Testing

@Suite(.serialized) struct SchedulerTests {
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

    @Test func onePollPerIntervalReadsEachWatchedChangeOnce() async throws {
        try await SchedulerHarness.with(Self.config) { h in
            let shared = h.sim.put(state: .scheduled, approval: .requested)
            let other = h.sim.put(state: .assess, approval: .requested)
            let ids = try (0..<5).map { try h.enqueue("web", release: "\($0)", changeNumber: shared.number) }
                + [try h.enqueue("web", release: "x", changeNumber: other.number)]
            for id in ids { try await h.wait(id, .awaitingApproval) }
            let before = h.sim.polls.count
            for _ in 0..<3 {
                let seen = h.sim.polls.count
                h.advance(by: 3)
                try await eventually("the next poll") { h.sim.polls.count == seen + 1 }
            }
            let polls = h.sim.polls.dropFirst(before)
            #expect(polls.count == 3, "one batched read per interval for six waiting deployments")
            for poll in polls { #expect(poll == [shared.number, other.number].sorted()) }
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
