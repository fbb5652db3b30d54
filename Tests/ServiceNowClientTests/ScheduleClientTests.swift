import Foundation
import NIOHTTP1
import ServiceNowModel
import Testing
@testable import ServiceNowClient

/// The schedule-aware gate's client calls against the simulator over HTTP.
@Suite struct ScheduleClientTests {
    static func utc(_ text: String) -> Date { GlideDateTime.parse(text)! }

    @discardableResult
    static func ci(_ sim: Sim, _ name: String, maintenance: [[String: Any]]? = nil) async throws -> String {
        var body: [String: Any] = ["name": name]
        if let maintenance { body["maintenance"] = maintenance }
        return try await sim.control(.POST, "/_sim/cis", body)["sys_id"]?.scalarText ?? ""
    }

    /// A change typed in with a CI and a planned window.
    static func change(_ sim: Sim, ci: String?, start: String, end: String, state: ChangeState = .new) async throws -> String {
        var body: [String: Any] = ["short_description": "deploy", "state": state.rawValue, "start_date": start, "end_date": end]
        if let ci { body["cmdb_ci"] = ci }
        return try await sim.control(.POST, "/_sim/changes", body)["sys_id"]?.scalarText ?? ""
    }

    @Test func blackoutsThatApplyAndOneThatDoesNot() async throws {
        try await Sim.run { sim in
            let client = sim.client()
            try await Self.ci(sim, "web-01")
            try await Self.ci(sim, "db-01")
            try await sim.control(.POST, "/_sim/blackouts", ["name": "Web freeze", "start": "2030-03-01 10:00:00", "end": "2030-03-01 12:00:00", "cis": ["web-01"]])
            try await sim.control(.POST, "/_sim/blackouts", ["name": "DB freeze", "start": "2030-03-01 10:00:00", "end": "2030-03-01 12:00:00", "cis": ["db-01"]])
            try await sim.control(.POST, "/_sim/blackouts", ["name": "Company freeze", "start": "2030-03-01 11:00:00", "end": "2030-03-01 13:00:00"])
            let c = try await Self.change(sim, ci: "web-01", start: "2030-03-01 09:00:00", end: "2030-03-01 14:00:00")
            let spans = try await client.blackoutSpans(changeSysID: c, from: Self.utc("2030-03-01 00:00:00"), to: Self.utc("2030-03-02 00:00:00"))
            #expect(spans == [
                BlackoutSpan(schedule: "Web freeze", start: Self.utc("2030-03-01 10:00:00"), end: Self.utc("2030-03-01 12:00:00")),
                BlackoutSpan(schedule: "Company freeze", start: Self.utc("2030-03-01 11:00:00"), end: Self.utc("2030-03-01 13:00:00")),
            ])
            // Outside from…to: nothing.
            #expect(try await client.blackoutSpans(changeSysID: c, from: Self.utc("2030-03-02 00:00:00"), to: Self.utc("2030-03-03 00:00:00")).isEmpty)
            // A change without CIs gets only the blackouts of every change.
            let bare = try await Self.change(sim, ci: nil, start: "2030-03-01 09:00:00", end: "2030-03-01 14:00:00")
            let global = try await client.blackoutSpans(changeSysID: bare, from: Self.utc("2030-03-01 00:00:00"), to: Self.utc("2030-03-02 00:00:00"))
            #expect(global.map(\.schedule) == ["Company freeze"])
        }
    }

    @Test func repeatingSpansAreExpanded() async throws {
        try await Sim.run { sim in
            let client = sim.client()
            try await Self.ci(sim, "web-01")
            // Every Monday and Wednesday, 2030-01-07 is a Monday.
            try await sim.control(.POST, "/_sim/blackouts", ["name": "Release freeze", "start": "2030-01-07 08:00:00", "end": "2030-01-07 10:00:00",
                                                             "repeat": "weekly", "days_of_week": [1, 3], "cis": ["web-01"], "until": "2030-01-16"])
            try await sim.control(.POST, "/_sim/blackouts", ["name": "Nightly", "start": "2030-01-06 23:00:00", "end": "2030-01-07 01:00:00", "repeat": "daily"])
            let c = try await Self.change(sim, ci: "web-01", start: "2030-01-07 00:00:00", end: "2030-01-07 01:00:00")
            let spans = try await client.blackoutSpans(changeSysID: c, from: Self.utc("2030-01-07 00:00:00"), to: Self.utc("2030-01-20 00:00:00"))
            let weekly = spans.filter { $0.schedule == "Release freeze" }.map(\.start)
            #expect(weekly == ["2030-01-07 08:00:00", "2030-01-09 08:00:00", "2030-01-14 08:00:00", "2030-01-16 08:00:00"].map(Self.utc))
            let nightly = spans.filter { $0.schedule == "Nightly" }
            #expect(nightly.count == 14) // the 6th's span reaches into the 7th, then one a night up to the 19th
            #expect(nightly.first == BlackoutSpan(schedule: "Nightly", start: Self.utc("2030-01-06 23:00:00"), end: Self.utc("2030-01-07 01:00:00")))
        }
    }

    @Test func spanRulesInAZone() throws {
        // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
        let rule = try #require(ScheduleSpanRule(start: "20300325T090000", end: "20300325T100000", allDay: false, repeatType: "daily",
                                                 timeZone: "Europe/Berlin"))
        let days = rule.occurrences(overlapping: Self.utc("2030-03-30 00:00:00"), Self.utc("2030-04-01 00:00:00")).map(\.start)
        #expect(days == [Self.utc("2030-03-30 08:00:00"), Self.utc("2030-03-31 07:00:00")])
        let allDay = try #require(ScheduleSpanRule(start: "20300101T000000", end: "20300102T000000", allDay: true, repeatType: ""))
        #expect(allDay.occurrences(overlapping: Self.utc("2029-12-31 00:00:00"), Self.utc("2030-02-01 00:00:00"))
                == [DateInterval(start: Self.utc("2030-01-01 00:00:00"), end: Self.utc("2030-01-03 00:00:00"))])
        #expect(ScheduleSpanRule(start: "x", end: "20300102T000000", allDay: false, repeatType: "") == nil)
        #expect(ScheduleSpanRule(start: "20300101T000000", end: "20300102T000000", allDay: false, repeatType: "monthly_by_weekday") == nil)
    }

    /// Runs the check and polls the report until the instance is done.
    static func check(_ client: ServiceNowClient, _ sysID: String) async throws -> ConflictReport {
        try await client.runConflictCheck(sysID: sysID)
        for _ in 0..<600 {
            let report = try await client.conflictReport(sysID: sysID)
            if !report.inProgress { return report }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the conflict check of \(sysID) did not finish")
        return ConflictReport(status: .notRun)
    }

    @Test func conflictReportOfEachType() async throws {
        try await Sim.run { sim in
            let client = sim.client()
            #expect(try await client.conflictReport(sysID: try await Self.change(sim, ci: nil, start: "2030-03-01 09:00:00", end: "2030-03-01 10:00:00")).status == .notRun)
            try await Self.ci(sim, "web-01", maintenance: [["start": "2030-03-01 08:00:00", "end": "2030-03-01 12:00:00", "repeat": "daily"]])
            try await Self.ci(sim, "db-01")
            try await Self.ci(sim, "cache-01")
            try await sim.control(.POST, "/_sim/blackouts", ["name": "DB freeze", "start": "2030-03-01 00:00:00", "end": "2030-03-02 00:00:00", "cis": ["db-01"]])

            let inside = try await Self.change(sim, ci: "web-01", start: "2030-03-02 09:00:00", end: "2030-03-02 10:00:00")
            let clean = try await Self.check(client, inside)
            #expect(clean.status == .noConflict)
            #expect(clean.conflicts.isEmpty)
            #expect(clean.lastRun != nil)

            let outside = try await Self.change(sim, ci: "web-01", start: "2030-03-03 11:00:00", end: "2030-03-03 13:00:00")
            let window = try await Self.check(client, outside)
            #expect(window.status == .conflict)
            #expect(window.conflicts.map(\.kind) == [.notInMaintenanceWindow])
            #expect(window.conflicts.first?.configurationItem == "web-01")
            #expect(window.conflicts.first?.schedule == "web-01 maintenance")

            let frozen = try await Self.change(sim, ci: "db-01", start: "2030-03-01 09:00:00", end: "2030-03-01 10:00:00")
            let blackout = try await Self.check(client, frozen)
            #expect(blackout.conflicts.map(\.kind) == [.blackout])
            #expect(blackout.conflicts.first?.schedule == "DB freeze")

            let first = try await Self.change(sim, ci: "cache-01", start: "2030-03-05 09:00:00", end: "2030-03-05 11:00:00")
            let second = try await Self.change(sim, ci: "cache-01", start: "2030-03-05 10:00:00", end: "2030-03-05 12:00:00")
            let scheduled = try await Self.check(client, second)
            #expect(scheduled.conflicts.map(\.kind) == [.ciAlreadyScheduled])
            let firstNumber = try await client.change(sysID: first).number
            #expect(scheduled.conflicts.first?.otherChange == firstNumber)
            #expect(scheduled.conflicts.first?.description.contains(firstNumber) == true)

            // No CI: the instance cannot start the check.
            let bare = try await Self.change(sim, ci: nil, start: "2030-03-01 09:00:00", end: "2030-03-01 10:00:00")
            await #expect(throws: ServiceNowError.self) { try await client.runConflictCheck(sysID: bare) }
        }
    }

    @Test func configurationItemsByNameAndSysID() async throws {
        try await Sim.run { sim in
            let client = sim.client()
            let id = try await Self.ci(sim, "web-01")
            #expect(try await client.configurationItem("web-01") == ConfigurationItem(sysID: id, name: "web-01"))
            #expect(try await client.configurationItem(id) == ConfigurationItem(sysID: id, name: "web-01"))
            #expect(try await client.configurationItem("web-0") == nil)
            #expect(try await client.configurationItem(String(repeating: "a", count: 32)) == nil)
            #expect(try await client.configurationItem("web^01") == nil)
        }
    }

    @Test func affectedCIsAreAddedAndCount() async throws {
        try await Sim.run { sim in
            let client = sim.client()
            try await Self.ci(sim, "web-01")
            let db = try await Self.ci(sim, "db-01")
            try await sim.control(.POST, "/_sim/blackouts", ["name": "DB freeze", "start": "2030-03-01 00:00:00", "end": "2030-03-02 00:00:00", "cis": ["db-01"]])
            let c = try await Self.change(sim, ci: "web-01", start: "2030-03-01 09:00:00", end: "2030-03-01 10:00:00")
            let day = (Self.utc("2030-03-01 00:00:00"), Self.utc("2030-03-02 00:00:00"))
            #expect(try await client.blackoutSpans(changeSysID: c, from: day.0, to: day.1).isEmpty)
            try await client.addAffectedCIs(changeSysID: c, ciSysIDs: [db])
            try await client.addAffectedCIs(changeSysID: c, ciSysIDs: [db]) // already associated: fine
            #expect(try await client.blackoutSpans(changeSysID: c, from: day.0, to: day.1).map(\.schedule) == ["DB freeze"])
            await #expect(throws: ServiceNowError.self) { try await client.addAffectedCIs(changeSysID: c, ciSysIDs: [String(repeating: "b", count: 32)]) }
            let implementing = try await Self.change(sim, ci: "web-01", start: "2030-03-01 09:00:00", end: "2030-03-01 10:00:00", state: .implement)
            do throws(ServiceNowError) {
                try await client.addAffectedCIs(changeSysID: implementing, ciSysIDs: [db])
                Issue.record("affected CIs were added to a change in Implement")
            } catch {
                #expect(error.description.contains("New state"))
            }
        }
    }

    @Test func attachListDownloadAndRefusals() async throws {
        try await Sim.run { sim in
            let client = sim.client()
            let c = try await Self.change(sim, ci: nil, start: "2030-03-01 09:00:00", end: "2030-03-01 10:00:00")
            let log = Data("step 1\nstep 2\n".utf8)
            let a = try await client.attach(changeSysID: c, fileName: "task-7.log", contentType: "text/plain", data: log)
            #expect(a.fileName == "task-7.log")
            #expect(a.sizeBytes == log.count)
            #expect(a.contentType == "text/plain")
            #expect(a.hash.count == 64)
            let evidence = Data(#"{"task":7}"#.utf8)
            let b = try await client.attach(changeSysID: c, fileName: "evidence.json", contentType: "application/json", data: evidence)
            #expect(try await client.attachments(changeSysID: c).map(\.sysID) == [a.sysID, b.sysID])
            #expect(try await client.attachmentContent(sysID: a.sysID) == log)
            #expect(try await client.attachmentContent(sysID: b.sysID) == evidence)

            try await sim.control(.PUT, "/_sim/properties", ["com.glide.attachment.max_size": 0.0001])
            do throws(ServiceNowError) {
                _ = try await client.attach(changeSysID: c, fileName: "big.log", contentType: "text/plain", data: Data(count: 500))
                Issue.record("an upload above the size limit was accepted")
            } catch {
                guard case .badRequest = error else { Issue.record("expected badRequest, got \(error)"); return }
                #expect(error.description.contains("com.glide.attachment.max_size"))
            }
            try await sim.control(.PUT, "/_sim/properties", ["com.glide.attachment.max_size": 1024])

            // The answer is lost once after storing: the client finds the file instead of uploading it again.
            try await sim.faults(["attachment_fault": "fail_after_store", "attachment_fault_times": 1])
            let lost = try await client.attach(changeSysID: c, fileName: "retry.log", contentType: "text/plain", data: log)
            #expect(try await client.attachments(changeSysID: c).filter { $0.fileName == "retry.log" }.map(\.sysID) == [lost.sysID])
            // Uploads keep failing before storing: an error, and nothing attached.
            try await sim.faults(["attachment_fault": "fail"])
            do throws(ServiceNowError) {
                _ = try await client.attach(changeSysID: c, fileName: "never.log", contentType: "text/plain", data: log)
                Issue.record("a failing upload reported success")
            } catch {
                #expect(error.description.contains("never.log"))
            }
            try await sim.clearFaults()
            #expect(try await client.attachments(changeSysID: c).filter { $0.fileName == "never.log" }.isEmpty)
        }
    }

    @Test func nextStatesPerType() async throws {
        try await Sim.run { sim in
            let client = sim.client()
            let normal = try await sim.createChange("n", state: .new, type: .normal)
            #expect(try await client.nextStates(sysID: normal.sysID) == [.assess, .canceled])
            let authorize = try await sim.createChange("a", state: .authorize, type: .normal)
            // Scheduled waits for the approval: listed by the instance, not a move the client offers.
            #expect(try await client.nextStates(sysID: authorize.sysID) == [.canceled])
            let standard = try await sim.createChange("s", state: .new, type: .standard)
            #expect(try await client.nextStates(sysID: standard.sysID) == [.scheduled, .canceled])
            let emergency = try await sim.createChange("e", state: .new, type: .emergency)
            #expect(try await client.nextStates(sysID: emergency.sysID) == [.authorize, .canceled])
            let implementing = try await sim.createChange("i", state: .implement, type: .normal)
            #expect(try await client.nextStates(sysID: implementing.sysID) == [.review, .canceled])
            let review = try await sim.createChange("r", state: .review, type: .emergency)
            #expect(try await client.nextStates(sysID: review.sysID) == [.closed])
        }
    }
}
