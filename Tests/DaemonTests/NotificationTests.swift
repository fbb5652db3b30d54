import ChangeWebhook
@testable import Daemon
import Foundation
import QueueContract
import ServiceNowModel
import Testing
import TestSupport

/// Push notifications in the scheduler: a notice makes it read the change at once (the clock never moves here,
/// so no poll comes due) and decide from what it read.
@Suite(.serialized, .ownThreads) struct NotificationTests {
    static let config = environments + simConnection + project("web", command: "true")

    @Test func aNoticeForAWatchedChangeIsReadAtOnceAndDecided() async throws {
        try await SchedulerHarness.with(Self.config) { h in
            let id = try h.enqueue("web")
            let number = try #require(try await h.wait(id, .awaitingApproval).changeNumber)
            let before = h.sim.polls.count
            h.sim.set(number, state: .implement, approval: .approved)
            h.scheduler.changeNotified(ChangeNotification(sysID: "sys-\(number)", number: number))
            #expect(try await h.wait(id, .succeeded, .failed).outcome == .succeeded)
            #expect(h.sim.polls.dropFirst(before).first == [number], "one read of the notified change alone")
        }
    }

    @Test func theNoticeIsNotBelievedOnlyTheRead() async throws {
        try await SchedulerHarness.with(Self.config) { h in
            let id = try h.enqueue("web")
            let number = try #require(try await h.wait(id, .awaitingApproval).changeNumber)
            let before = h.sim.polls.count
            // ServiceNow still says New: a notice (forged or early) does not move the task.
            h.scheduler.changeNotified(ChangeNotification(sysID: "sys-\(number)", number: number))
            try await eventually("the notified read") { h.sim.polls.count == before + 1 }
            #expect(try h.row(id).state == .awaitingApproval)
        }
    }

    @Test func aNoticeForAChangeNobodyWatchesReadsNothing() async throws {
        try await SchedulerHarness.with(Self.config) { h in
            let id = try h.enqueue("web")
            let number = try #require(try await h.wait(id, .awaitingApproval).changeNumber)
            let before = h.sim.polls.count
            h.scheduler.changeNotified(ChangeNotification(sysID: String(repeating: "a", count: 32), number: "CHG9999999"))
            // The loop takes its inbox in order: once the watched change's read happened, the other notice was handled.
            h.scheduler.changeNotified(ChangeNotification(sysID: "sys-\(number)", number: number))
            try await eventually("the watched change's read") { h.sim.polls.count > before }
            #expect(Array(h.sim.polls.dropFirst(before)) == [[number]])
        }
    }
}
