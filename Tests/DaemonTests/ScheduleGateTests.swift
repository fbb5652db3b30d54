import AuditTrail
@testable import Daemon
import Foundation
import QueueContract
import QueueStore
import ServiceNowModel
import Testing
import TestSupport

/// The schedule-aware gate, the evidence and the close-out, against the in-memory ServiceNow.
@Suite(.serialized, .ownThreads) struct ScheduleGateTests {
    static func config(_ extra: String, command: String = "echo deployed-ok") -> String {
        environments + simConnection + project("web", command: command, extra: extra)
    }

    enum ConflictChange {
        static let blackout = ConflictReport(status: .conflict, conflicts: [ChangeConflict(kind: .blackout, type: "blackout", description: "Change freeze", schedule: "Year-end freeze")])
        static let clear = ConflictReport(status: .noConflict)
    }

    /// A change in Implement whose window holds the whole test.
    static func ready(_ h: SchedulerHarness) -> ChangeSnapshot {
        h.sim.put(state: .implement, approval: .approved, start: h.clock.now().addingTimeInterval(-60), end: h.clock.now().addingTimeInterval(86_400))
    }

    func audit(_ h: SchedulerHarness, _ id: Int64, _ kind: String) throws -> [AuditRecord] {
        try h.store.auditRecords(ofTask: id).filter { $0.kind == kind }
    }

    @Test func aBlackoutBlocksTheStartThenItStartsOnceCleared() async throws {
        try await SchedulerHarness.with(Self.config("conflict_check = \"block\"")) { h in
            h.sim.script(conflicts: [ConflictChange.blackout])
            let change = Self.ready(h)
            let id = try h.enqueue("web", changeNumber: change.number)
            try await eventually("the hold") { try h.log(id).contains("held: the conflict check of \(change.number) reports a blackout (Year-end freeze)") }
            #expect(try h.row(id).state == .implementCheck)
            h.sim.script(conflicts: [ConflictChange.clear])
            h.advance(by: 61)  // the re-check
            let done = try await h.wait(id, .succeeded, .failed)
            #expect(done.outcome == .succeeded)
            let checks = try audit(h, id, AuditKind.conflictCheck).map(\.details)
            #expect(checks.count == 2 && checks[0].contains("\"held\"") && checks[1].contains("\"passed\""))
        }
    }

    @Test func aBlockedDeploymentFailsAtTheApprovalTimeout() async throws {
        try await SchedulerHarness.with(Self.config("conflict_check = \"block\"\napproval_timeout = \"5m\"")) { h in
            let outside = ConflictReport(status: .conflict, conflicts: [
                ChangeConflict(kind: .notInMaintenanceWindow, type: "not_in_maintenance_window", description: "", configurationItem: "web01", schedule: "Sunday night"),
            ])
            h.sim.script(conflicts: [outside])
            let change = Self.ready(h)
            let id = try h.enqueue("web", changeNumber: change.number)
            try await eventually("the hold") { try h.log(id).contains("held:") }
            h.advance(by: 301)
            let done = try await h.wait(id, .failed, .succeeded)
            #expect(done.outcome == .changeConflict)
            #expect(done.reason?.contains("CI web01 outside its maintenance window (Sunday night)") == true)
        }
    }

    @Test func warnStartsAndTheLogAuditAndWorkNoteNameTheConflict() async throws {
        try await SchedulerHarness.with(Self.config("conflict_check = \"warn\"")) { h in
            h.sim.script(conflicts: [ConflictChange.blackout])
            let change = Self.ready(h)
            let id = try h.enqueue("web", changeNumber: change.number)
            let done = try await h.wait(id, .succeeded, .failed)
            #expect(done.outcome == .succeeded)
            #expect(try h.log(id).contains("reports a blackout (Year-end freeze); starting anyway (conflict_check = warn)"))
            #expect(try audit(h, id, AuditKind.conflictCheck).first?.details.contains("Year-end freeze") == true)
            #expect(h.sim.notes(change.number).first?.contains("Year-end freeze") == true, "the start work note names it")
        }
    }

    @Test func aBlackoutThatBeginsDuringTheRunStopsIt() async throws {
        try await SchedulerHarness.with(Self.config("conflict_check = \"block\"", command: "sleep 60")) { h in
            let begins = h.clock.now().addingTimeInterval(600)
            h.sim.script(blackouts: [BlackoutSpan(schedule: "Patch night", start: begins, end: begins.addingTimeInterval(3600))])
            let change = Self.ready(h)
            let id = try h.enqueue("web", changeNumber: change.number)
            try await eventually("the command runs") { try h.row(id).childPID != nil && h.log(id).contains("deploy command spawned") }
            try await Task.sleep(for: .milliseconds(200))  // the release is decided
            h.advance(by: 601)
            let done = try await h.wait(id, .failed, .succeeded)
            #expect(done.outcome == .blackoutWindow)
            #expect(done.reason?.contains("Patch night") == true)
            #expect(h.sim.calls.filter { $0 == "blackouts" }.count == 1, "the spans are read once, then a deadline")
        }
    }

    @Test func evidenceIsAttachedWithTheLogAndTheLastAuditRecord() async throws {
        try await SchedulerHarness.with(Self.config("")) { h in
            let change = Self.ready(h)
            let id = try h.enqueue("web", changeNumber: change.number)
            #expect(try await h.wait(id, .succeeded, .failed).outcome == .succeeded)
            let files = h.sim.attachments(change.number)
            #expect(files.map(\.name) == ["changegate-task-\(id).log", "changegate-task-\(id)-evidence.json"])
            #expect(String(decoding: files[0].data, as: UTF8.self).contains("stdout deployed-ok"))
            let record = try #require(JSONSerialization.jsonObject(with: files[1].data) as? [String: Any])
            #expect(record["task_id"] as? Int == Int(id) && record["outcome"] as? String == "succeeded" && record["exit_code"] as? Int == 0)
            #expect(record["change_number"] as? String == change.number && record["project"] as? String == "web")
            let seq = try #require(record["audit_seq"] as? Int)
            let chain = try h.store.auditRecords(ofTask: id)
            let cited = try #require(chain.first { $0.seq == Int64(seq) })
            #expect(record["audit_hash"] as? String == cited.hash)
            #expect(cited.kind == AuditKind.executionEnded, "the deployment's last record before the evidence")
            let attached = try #require(try audit(h, id, AuditKind.evidenceAttached).first)
            #expect(attached.details.contains("att-changegate-task-\(id).log"))
            #expect(attached.details.contains(AuditChain.sha256Hex(Array(files[1].data))))
        }
    }

    @Test func theLogAttachmentIsCutAtTheCapWithAMarker() async throws {
        let lines = "i=0; while [ $i -lt 400 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done"
        try await SchedulerHarness.with(Self.config("evidence_max_bytes = 4096", command: lines)) { h in
            let change = Self.ready(h)
            let id = try h.enqueue("web", changeNumber: change.number)
            #expect(try await h.wait(id, .succeeded, .failed).outcome == .succeeded)
            let log = try #require(h.sim.attachments(change.number).first).data
            #expect(log.count <= 4096)
            #expect(String(decoding: log, as: UTF8.self).hasSuffix(Evidence.truncationMarker + "\n"))
        }
    }

    @Test func aFailedUploadNeverFailsTheDeploymentAndIsShown() async throws {
        try await SchedulerHarness.with(Self.config("")) { h in
            h.sim.failAttach(times: 4)  // the log fails its three tries; the record's first try fails, its second passes
            let change = Self.ready(h)
            let id = try h.enqueue("web", changeNumber: change.number)
            #expect(try await h.wait(id, .succeeded, .failed).outcome == .succeeded)
            #expect(h.sim.attachments(change.number).map(\.name) == ["changegate-task-\(id)-evidence.json"])
            let failed = try audit(h, id, AuditKind.evidenceUploadFailed)
            #expect(failed.count == 1 && failed[0].details.contains("\"attempts\":3"))
            try await eventually("the integration error") {
                try h.store.recentIntegrationErrors().contains { $0.taskID == id && $0.message.contains("changegate-task-\(id).log") }
            }
        }
    }

    @Test func thePerEnvironmentTemplateAndCIsMakeTheChange() async throws {
        let extra = """
            change_template = "Deploy web"
            cmdb_ci = "web-test-01"
            [projects.web.environments.Production]
            change_template = "Deploy web to production"
            cmdb_ci = ["web-prod-01", "web-prod-02"]
            """
        try await SchedulerHarness.with(Self.config(extra)) { h in
            h.sim.addTemplate("Deploy web to production")
            let id = try h.enqueue("web")
            let row = try await h.wait(id, .awaitingApproval, .implementCheck, .failed)
            #expect(row.changeLink == .createdStandard)
            let fields = try #require(h.sim.createdFields.last)
            #expect(fields["template"] == "tpl-Deploy web to production" && fields["cmdb_ci"] == "ci-web-prod-01")
            #expect(h.sim.affectedCIs(try #require(row.changeNumber)) == ["ci-web-prod-01", "ci-web-prod-02"])
            let again = try h.enqueue("web", release: "2")
            _ = try await h.wait(again, .awaitingApproval, .implementCheck, .failed)
            #expect(h.sim.calls.filter { $0 == "ci" }.count == 2, "each CI is looked up once")
        }
    }

    @Test func aRowTemplateOutsideTheAllowListIsRefused() async throws {
        try await SchedulerHarness.with(Self.config("allowed_change_templates = [\"Deploy web (hotfix)\"]")) { h in
            let id = try h.store.enqueue(project: "web", environment: "Production", release: "1", changeType: "standard", changeTemplate: "Anything goes")
            h.kick.yield()
            let row = try await h.wait(id, .failed)
            #expect(row.outcome == .invalidRequest)
            #expect(row.reason?.contains("allowed_change_templates") == true && row.reason?.contains("Deploy web (hotfix)") == true)
            h.sim.addTemplate("Deploy web (hotfix)")
            let ok = try h.store.enqueue(project: "web", environment: "Production", release: "2", changeType: "standard", changeTemplate: "Deploy web (hotfix)")
            h.kick.yield()
            #expect(try await h.wait(ok, .awaitingApproval, .implementCheck, .failed).changeLink == .createdStandard)
        }
    }

    @Test func aNormalChangeIsClosedThroughReview() async throws {
        try await SchedulerHarness.with(Self.config("close_change = \"closed\"\nevidence = false")) { h in
            let change = Self.ready(h)
            let id = try h.enqueue("web", changeNumber: change.number)
            #expect(try await h.wait(id, .succeeded, .failed).outcome == .succeeded)
            #expect(h.sim.moves(change.number) == [.review, .closed])
            #expect(h.sim.calls.filter { $0 == "nextStates" }.count == 2)
            #expect(h.sim.attachments(change.number).isEmpty, "evidence = false")
        }
    }

    @Test func aFailedStandardChangeMovesOnAsConfigured() async throws {
        try await SchedulerHarness.with(Self.config("close_change_on_failure = \"canceled\"", command: "exit 3")) { h in
            let change = Self.ready(h)
            h.sim.setType(change.number, .standard)
            let id = try h.enqueue("web", changeNumber: change.number)
            #expect(try await h.wait(id, .failed, .succeeded).outcome == .deployFailed)
            #expect(h.sim.moves(change.number) == [.canceled])
        }
    }

    @Test func aFailedStandardChangeLeftInImplementIsSaidOutLoud() async throws {
        try await SchedulerHarness.with(Self.config("", command: "exit 3")) { h in
            let change = Self.ready(h)
            h.sim.setType(change.number, .standard)
            let id = try h.enqueue("web", changeNumber: change.number)
            #expect(try await h.wait(id, .failed, .succeeded).outcome == .deployFailed)
            #expect(h.sim.moves(change.number).isEmpty)
            #expect(try audit(h, id, AuditKind.changeLeftOpen).first?.details.contains("close_change_on_failure") == true)
        }
    }

    @Test func aModelThatOffersNoPathLeavesTheChangeWhereItIsAndSaysWhy() async throws {
        try await SchedulerHarness.with(Self.config("close_change = \"closed\"\nevidence = false")) { h in
            h.sim.offer([.implement: [.review], .review: []])
            let change = Self.ready(h)
            let id = try h.enqueue("web", changeNumber: change.number)
            #expect(try await h.wait(id, .succeeded, .failed).outcome == .succeeded)
            #expect(h.sim.moves(change.number) == [.review])
            #expect(try audit(h, id, AuditKind.changeLeftOpen).first?.details.contains("ServiceNow allows: none") == true)
        }
    }
}
