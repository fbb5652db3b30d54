import Foundation
import Testing
import ServiceNowModel
@testable import ServiceNowSimulator

@Suite struct QueryTests {
    /// Five changes by hand: c0…c4 with states, groups and planned starts to filter on.
    static func seed(_ sim: Sim) async throws {
        let rows = [
            #"{"short_description":"alpha deploy","correlation_id":"g1","state":-5,"start_date":"2024-01-01 10:00:00"}"#,
            #"{"short_description":"beta deploy","correlation_id":"g1","state":-1,"start_date":"2024-02-01 10:00:00"}"#,
            #"{"short_description":"gamma rollback","correlation_id":"g2","state":0,"start_date":"2024-03-01 10:00:00"}"#,
            #"{"short_description":"delta deploy","correlation_id":"","state":3}"#,
            #"{"short_description":"Alpha upper","correlation_id":"g3","state":4,"type":"emergency"}"#,
        ]
        for r in rows { #expect(try await sim.control("POST", "/changes", r).status == 200) }
    }

    static func titles(_ sim: Sim, _ query: String) async throws -> [String] {
        let a = try await sim.get("/api/now/table/change_request?sysparm_fields=short_description&sysparm_query=" + query)
        #expect(a.status == 200, "\(query): \(a.text)")
        return a.results.map { $0["short_description"]?.stringValue ?? "?" }
    }

    @Test func operators() async throws {
        try await Sim.with { sim in
            try await Self.seed(sim)
            let cases: [(String, [String])] = [
                ("correlation_id=g1", ["alpha deploy", "beta deploy"]),
                ("correlation_id!=g1", ["gamma rollback", "delta deploy", "Alpha upper"]),
                ("correlation_idINg2,g3", ["gamma rollback", "Alpha upper"]),
                ("correlation_idNOT INg1,g2", ["delta deploy", "Alpha upper"]),
                ("short_descriptionSTARTSWITHalpha", ["alpha deploy"]),
                ("short_descriptionENDSWITHdeploy", ["alpha deploy", "beta deploy", "delta deploy"]),
                ("short_descriptionLIKEeta", ["beta deploy"]),
                ("short_descriptionNOT LIKEdeploy", ["gamma rollback", "Alpha upper"]),
                ("correlation_idISEMPTY", ["delta deploy"]),
                ("start_dateISNOTEMPTY", ["alpha deploy", "beta deploy", "gamma rollback"]),
                ("state<0", ["alpha deploy", "beta deploy"]),
                ("state<=0", ["alpha deploy", "beta deploy", "gamma rollback"]),
                ("state>0", ["delta deploy", "Alpha upper"]),
                ("state>=3", ["delta deploy", "Alpha upper"]),
                ("stateIN-5,-1", ["alpha deploy", "beta deploy"]),
                ("start_date>2024-01-15 00:00:00", ["beta deploy", "gamma rollback"]),
                ("start_date<=2024-02-01 10:00:00", ["alpha deploy", "beta deploy"]),
                ("start_dateBETWEEN2024-01-15 00:00:00@2024-02-15 00:00:00", ["beta deploy"]),
                ("start_date>=javascript:gs.dateGenerate('2024-02-01','10:00:00')", ["beta deploy", "gamma rollback"]),
                ("sys_updated_on>2000-01-01 00:00:00^type=emergency", ["Alpha upper"]),
                ("sys_updated_on<2000-01-01 00:00:00", []),
                ("correlation_id=g1^state=-1", ["beta deploy"]),
                ("correlation_id=g2^ORcorrelation_id=g3", ["gamma rollback", "Alpha upper"]),
                ("state=3^NQcorrelation_id=g2", ["gamma rollback", "delta deploy"]),
                ("correlation_idISNOTEMPTY^ORDERBYDESCshort_description", ["gamma rollback", "beta deploy", "alpha deploy", "Alpha upper"]),
                ("ORDERBYstart_date^state!=4", ["delta deploy", "alpha deploy", "beta deploy", "gamma rollback"]),
                ("opened_by.user_name=admin^state=-5", ["alpha deploy"]),
                // Values are case-sensitive.
                ("short_descriptionSTARTSWITHAlpha", ["Alpha upper"]),
            ]
            for (query, expected) in cases {
                #expect(try await Self.titles(sim, query) == expected, "\(query)")
            }
        }
    }

    @Test func invalidClausesAreIgnoredSilently() async throws {
        try await Sim.with { sim in
            try await Self.seed(sim)
            // Unknown field: dropped, the rest still applies.
            #expect(try await Self.titles(sim, "u_no_such_field=1^correlation_id=g1") == ["alpha deploy", "beta deploy"])
            // Unknown operator, unparsable number, script: dropped; nothing left means everything matches.
            #expect(try await Self.titles(sim, "stateWOBBLE3").count == 5)
            #expect(try await Self.titles(sim, "state<abc").count == 5)
            #expect(try await Self.titles(sim, "short_description=javascript:gs.getUserID()").count == 5)
            #expect(try await Self.titles(sim, "ORDERBYno_field^correlation_id=g2") == ["gamma rollback"])
            // The Change API parses the same way.
            let a = try await sim.get("/api/sn_chg_rest/change?sysparm_query=bogus=1^correlation_id=g2")
            #expect(a.results.map { $0.s("short_description") } == ["gamma rollback"])
        }
    }

    @Test func parserUnit() {
        let q = EncodedQuery("a=1^ORb=2^c=3^NQd=4^ORDERBYe^zzz=1") { name in
            ["a", "b", "c", "d", "e"].contains(name) ? FieldSpec(name: name, type: .string, defaultValue: "", choices: [:],
                                                                 emptyDisplay: "", writable: true) : nil
        }
        #expect(q.groups.count == 2)
        #expect(q.groups[0].map { $0.map(\.field) } == [["a", "b"], ["c"]])
        #expect(q.groups[1].map { $0.map(\.field) } == [["d"]])
        #expect(q.orderBy.map(\.field) == ["e"])
        #expect(q.ignoredClauses == ["zzz=1"])
    }

    @Test func numberInOverTenThousandChangesFindsExactlyThose() async throws {
        try await Sim.with { sim in
            await sim.app.core.store.isolated { s in
                for i in 0..<10_000 {
                    _ = s.insertChange(type: .normal, by: s.uiUser, values: ["short_description": "bulk \(i)", "correlation_id": "b\(i)"])
                }
            }
            let numbers = stride(from: 30001, to: 40001, by: 100).map { String(format: "CHG%07d", $0) }
            #expect(numbers.count == 100)
            // How fast lives in `make bench` (ClientBench reads 10,000 statuses); here only what comes back.
            let a = try await sim.get("/api/sn_chg_rest/change?sysparm_query=numberIN\(numbers.joined(separator: ","))&sysparm_fields=number,state")
            #expect(a.results.count == 100)
            #expect(a.header("X-Total-Count") == "100")
            // A scan with a filter over all of them is fine too.
            let b = try await sim.get("/api/now/table/change_request?sysparm_query=correlation_id=b9999&sysparm_fields=number")
            #expect(b.results.first?["number"] == .string("CHG0040000"))
            #expect(b.results.count == 1)
        }
    }
}

@Suite struct RelativeDateQueryTests {
    /// `RELATIVE…` clauses compare with the instance's clock at the time of the request, as ServiceNow's delta
    /// queries do; every write (here the control API's) moves `sys_updated_on`.
    @Test func relativeOperatorsSelectByUpdateTime() async throws {
        try await Sim.with { sim in
            try await QueryTests.seed(sim)
            let everything = ["alpha deploy", "beta deploy", "gamma rollback", "delta deploy", "Alpha upper"]
            #expect(try await QueryTests.titles(sim, "sys_updated_onRELATIVEGE@minute@ago@5") == everything)
            #expect(try await QueryTests.titles(sim, "sys_updated_onRELATIVELT@minute@ago@5") == [])
            #expect(try await QueryTests.titles(sim, "sys_updated_onRELATIVEGE@hour@ahead@1") == [], "nothing is updated in the future")
            #expect(try await QueryTests.titles(sim, "sys_updated_onRELATIVEGE@fortnight@ago@1") == everything,
                    "an unknown unit drops the clause, as on a real instance")
            try await Task.sleep(for: .seconds(10))
            let list = try await sim.get("/api/now/table/change_request?sysparm_fields=number&sysparm_query=short_descriptionSTARTSWITHbeta")
            let number = try #require(list.results.first?.s("number"))
            let beforeUpdate = Date()
            #expect(try await sim.control("POST", "/changes/\(number)/state", #"{"state":-2}"#).status == 200)
            // 8 s reaches back past the update (unless this took 7 s: then the machine is too busy to tell) and not
            // to the seed, 10 s and more before it, even with whole-second times on both ends.
            let reach = 8
            try #require(Date().timeIntervalSince(beforeUpdate) < 7, "the machine is too slow to tell them apart")
            #expect(try await QueryTests.titles(sim, "sys_updated_onRELATIVEGE@second@ago@\(reach)") == ["beta deploy"],
                    "only the change updated in the last \(reach) s")
        }
    }
}
