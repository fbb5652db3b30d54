import AsyncHTTPClient
import Foundation
import ServiceNowModel
import ServiceNowSimulator
import Testing
@testable import ServiceNowClient

/// Every client call against the in-process simulator over real HTTP on loopback.
@Suite(.serialized) struct ClientSimulatorTests {
    @Test func createsReadsAndSearchesChanges() async throws {
        try await Sim.run { sim in
            let client = sim.client()
            let normal = try await client.createChange(.normal, fields: ["short_description": "Deploy web 1.0", "correlation_id": "cg-normal-1"])
            #expect(normal.type == .normal && normal.state == .new && normal.approval == .notRequested)
            #expect(normal.number.hasPrefix("CHG") && normal.sysID.count == 32)
            #expect(normal.correlationID == "cg-normal-1")
            let emergency = try await client.createChange(.emergency, fields: ["short_description": "Hotfix"])
            #expect(emergency.type == .emergency)

            #expect(try await client.change(sysID: normal.sysID) == normal)
            #expect(try await client.change(number: normal.number) == normal)
            #expect(try await client.change(number: "CHG9999999") == nil)
            #expect(try await client.change(number: "CHG1^NQactive=true") == nil)
            await #expect(throws: ServiceNowError.notFound(connection: "sim", what: "change request with sys_id 0123456789abcdef0123456789abcdef")) {
                try await client.change(sysID: "0123456789abcdef0123456789abcdef")
            }
            let byCorrelation = try await client.searchChanges(ChangeQuery().correlationID(.equals("cg-normal-1")))
            #expect(byCorrelation == [normal])
            let open = try await client.searchChanges(ChangeQuery().active(true).state(.in([.new])).orderBy(.number))
            #expect(open.map(\.number) == [normal.number, emergency.number])
        }
    }

    @Test func titleWithCaretIsFoundExactlyWithoutSendingTheCaret() async throws {
        try await Sim.run { sim in
            let title = "Octopus: Deploy \"web^api\" version 1.0 to \"Prod\""
            let wanted = try await sim.createChange(title, state: .implement)
            try await sim.createChange("Octopus: Deploy \"web^api\" version 1.0 to \"Prod\" (old)", state: .implement)
            try await sim.createChange("Octopus: Deploy \"web\" version 1.0 to \"Prod\"", state: .implement)
            try await sim.createChange(title, state: .closed)
            let client = sim.client()
            try await sim.resetRequests()
            let found = try await client.searchChanges(ChangeQuery().active(true).shortDescription(.equals(title)))
            #expect(found.map(\.number) == [wanted.number])
            let log = try await sim.requests().log.filter { $0.path == "/api/sn_chg_rest/change" }
            #expect(log.count == 1)
            let sent = log.first.map { $0.query.removingPercentEncoding ?? $0.query } ?? ""
            #expect(sent.contains("sysparm_query=active=true^short_descriptionLIKEapi\" version 1.0 to \"Prod\"^ORDERBYnumber&"))
            #expect(sent.components(separatedBy: "^").count == 3)
        }
    }

    @Test func standardChangesAndUpdates() async throws {
        try await Sim.run { sim in
            let client = sim.client()
            let template = try #require(try await client.standardTemplate(named: "Reboot Windows Server"))
            #expect(template == StandardChangeTemplate(sysID: "563504cc47410200e90d87e8dee490e2", name: "Reboot Windows Server"))
            #expect(try await client.standardTemplate(named: "Reboot Windows") == nil)
            #expect(try await client.standardTemplate(named: "No^such template") == nil)
            let standard = try await client.createStandardChange(templateSysID: template.sysID, fields: ["short_description": "Reboot web01"])
            #expect(standard.type == .standard && standard.approval == .approved && standard.state == .new)

            #expect(try await client.nextStates(sysID: standard.sysID).contains(.scheduled))
            let scheduled = try await client.updateChange(sysID: standard.sysID, ChangeUpdate(state: .scheduled, workNotes: "scheduling"))
            #expect(scheduled.state == .scheduled)
            let implementing = try await client.updateChange(sysID: standard.sysID, ChangeUpdate(state: .implement))
            #expect(implementing.state == .implement)
            let review = try await client.updateChange(sysID: standard.sysID, ChangeUpdate(state: .review, workNotes: "deployed", closeCode: .successful, closeNotes: "ok"))
            #expect(review.state == .review)
            let plain = try await sim.control(.GET, "/_sim/changes/\(standard.number)")
            #expect(plain["close_code"]?.scalarText == "successful")
            // A move the state model refuses comes back as the instance's 403 with its reason.
            await #expect {
                try await client.updateChange(sysID: standard.sysID, ChangeUpdate(state: .new))
            } throws: { error in
                guard case .forbidden = error as? ServiceNowError else { return false }
                return true
            }
            await #expect(throws: ServiceNowError.self) { try await client.createChange(.standard, fields: [:]) }
        }
    }

    @Test func approversWithNames() async throws {
        try await Sim.run { sim in
            let client = sim.client()
            let change = try await client.createChange(.normal, fields: ["short_description": "needs CAB"])
            #expect(try await client.approvers(ofChange: change.sysID).isEmpty)
            _ = try await client.updateChange(sysID: change.sysID, ChangeUpdate(state: .assess))
            let authorize = try await client.updateChange(sysID: change.sysID, ChangeUpdate(state: .authorize))
            #expect(authorize.approval == .requested)
            try await sim.control(.POST, "/_sim/changes/\(change.number)/approve", ["approver": "Alice Approver", "comments": "fine by me"])
            let rows = try await client.approvers(ofChange: change.sysID)
            #expect(Set(rows.map(\.approverName)) == ["Alice Approver", "Bob CAB"])
            let alice = try #require(rows.first { $0.approverName == "Alice Approver" })
            #expect(alice.state == .approved)
            #expect(alice.comments.contains("fine by me"))
            #expect(alice.approverSysID == "5a1c0e7e1b4f4c2a9d3e8f7a6b5c4d04")
            #expect(rows.first { $0.approverName == "Bob CAB" }?.state == .requested)
        }
    }

    @Test func statusesOf250ChangesTake3ListRequestsAndOneToken() async throws {
        try await Sim.run { sim in
            let created = try await sim.createChanges(250, prefix: "bulk")
            let client = sim.client()
            try await sim.resetRequests()
            let byNumber = try await client.statuses(numbers: created.map(\.number) + ["CHG0000000", "bad,number"])
            #expect(byNumber.count == 250)
            #expect(byNumber[created[17].number]?.sysID == created[17].sysID)
            let counts = try await sim.requests()
            #expect(counts.byEndpoint["GET /api/now/table/change_request"] == 3)
            #expect(counts.byEndpoint["POST /oauth_token.do"] == 1)
            #expect(counts.total == 4)

            try await sim.resetRequests()
            let bySysID = try await client.statuses(sysIDs: created.map(\.sysID))
            #expect(bySysID.count == 250 && bySysID[created[200].sysID]?.number == created[200].number)
            #expect(try await sim.requests().total == 3)
            #expect(try await client.statuses(numbers: []).isEmpty)
        }
    }

    @Test func searchPagesThroughEverything() async throws {
        try await Sim.run { sim in
            let created = try await sim.createChanges(600, prefix: "page")
            let client = sim.client()
            try await sim.resetRequests()
            let all = try await client.searchChanges(ChangeQuery().shortDescription(.startsWith("page ")), limit: 10_000)
            #expect(all.count == 600)
            #expect(Set(all.map(\.number)) == Set(created.map(\.number)))
            #expect(try await sim.requests().byEndpoint["GET /api/sn_chg_rest/change"] == 3)
            let limited = try await client.searchChanges(ChangeQuery().shortDescription(.startsWith("page ")), limit: 10)
            #expect(limited.count == 10)
        }
    }

    @Test func serverDateIsTheInstanceClock() async throws {
        try await Sim.run { sim in
            let date = try #require(try await sim.client().serverDate())
            #expect(abs(date.timeIntervalSinceNow) < 5)
        }
    }

    @Test func otherGrantsAndBasicAuth() async throws {
        try await Sim.run { sim in
            let basic = sim.client(.basic(username: "svc.changegate", password: Secret("sim-password")))
            let made = try await basic.createChange(.normal, fields: ["short_description": "via basic"])
            let cc = sim.client(.clientCredentials(clientID: "changegate", clientSecret: Secret("sim-client-secret")))
            #expect(try await cc.change(sysID: made.sysID).number == made.number)

            // A refresh token obtained elsewhere.
            var request = HTTPClientRequest(url: sim.baseURL + "/oauth_token.do")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(.init(string: "grant_type=password&client_id=changegate&client_secret=sim-client-secret&username=reader&password=sim-password"))
            let answer = try await sim.http.execute(request, timeout: .seconds(10))
            let json = try JSONValue.parse(Data(try await answer.body.collect(upTo: 1 << 20).readableBytesView))
            let refresh = try #require(json["refresh_token"]?.scalarText)
            let viaRefresh = sim.client(.refreshToken(clientID: "changegate", clientSecret: Secret("sim-client-secret"), refreshToken: Secret(refresh)))
            #expect(try await viaRefresh.change(number: made.number)?.sysID == made.sysID)
            let log = try await sim.requests().log
            #expect(log.contains { $0.path == "/api/sn_chg_rest/change" && $0.user == "reader" })
        }
    }
}

@Suite(.serialized) struct DeltaReadTests {
    @Test func theDeltaReadReturnsOnlyRecentlyUpdatedChangesWithTheDecisionFields() async throws {
        try await Sim.run { sim in
            let client = sim.client()
            // Last edited an hour ago (backdated, so no real-time race decides the outcome); the fresh one now.
            let old = try await sim.createChange("old", state: .scheduled, updatedOn: GlideDateTime.format(Date().addingTimeInterval(-3_600)))
            let fresh = try await sim.createChange("fresh", state: .implement)
            try await sim.resetRequests()
            let reach = 600
            let updated = try await client.changesUpdated(withinLast: reach)
            #expect(updated.map(\.number) == [fresh.number], "not \(old.number), updated an hour ago")
            #expect(updated.first?.state == .implement && updated.first?.sysID == fresh.sysID)
            let requests = try await sim.requests().log.filter { $0.path != "/oauth_token.do" }
            #expect(requests.count == 1)
            let entry = try #require(requests.first)
            #expect(entry.path == "/api/now/table/change_request", "the Table API honours sysparm_fields")
            #expect(entry.query.contains("RELATIVEGE%40second%40ago%40\(reach)") || entry.query.contains("RELATIVEGE@second@ago@\(reach)"))
            #expect(entry.query.contains("sysparm_fields="))
            #expect(try await client.honoursRelativeDates() == true)
        }
    }

    @Test func batchedStatusesReadTheTableAPIWithFewFields() async throws {
        try await Sim.run { sim in
            let client = sim.client()
            let made = try await sim.createChanges(3, prefix: "s", state: .authorize)
            try await sim.resetRequests()
            let found = try await client.statuses(numbers: made.map(\.number))
            #expect(Set(found.keys) == Set(made.map(\.number)))
            #expect(found.values.allSatisfy { $0.state == .authorize })
            let log = try await sim.requests().log.filter { $0.path != "/oauth_token.do" }
            #expect(log.map(\.path) == ["/api/now/table/change_request"])
        }
    }

    @Test func everyRequestIsCountedInTheBudgetAndTheInstanceLimitWins() async throws {
        try await Sim.run { sim in
            let client = sim.client()
            let before = client.requestBudget.figures().lastHour
            _ = try await client.changesUpdated(withinLast: 5)
            _ = try await client.changesUpdated(withinLast: 5)
            #expect(client.requestBudget.figures().lastHour >= before + 2)
            client.requestBudget.instanceReported(limit: 500, retryAt: nil)
            let figures = client.requestBudget.figures()
            #expect(figures.perHour == 500 && figures.fromInstance)
        }
    }
}
