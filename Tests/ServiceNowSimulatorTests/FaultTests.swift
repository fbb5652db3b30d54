import Foundation
import Testing
@testable import ServiceNowSimulator

@Suite struct FaultTests {
    @Test func everyNthRequestIsRateLimited() async throws {
        try await Sim.with { sim in
            let set = try await sim.control("PUT", "/faults", #"{"rate_limit_every":3,"retry_after":7}"#)
            #expect(set.json["rate_limit_every"] == .int(3))
            let statuses = try await (0..<6).asyncMap { _ in try await sim.get("/api/sn_chg_rest/change") }
            #expect(statuses.map(\.status) == [200, 200, 429, 200, 200, 429])
            let limited = statuses[2]
            expectError(limited, 429, "Rate limit exceeded")
            #expect(limited.header("Retry-After") == "7")
            #expect(limited.header("X-RateLimit-Reset") == nil)
            _ = try await sim.control("PUT", "/faults", #"{"rate_limit_every":1,"retry_after":5,"rate_limit_reset":true}"#)
            let withReset = try await sim.get("/api/sn_chg_rest/change")
            #expect(withReset.status == 429)
            let reset = try #require(withReset.header("X-RateLimit-Reset").flatMap { Int($0) })
            #expect(abs(reset - Int(Date().timeIntervalSince1970) - 5) <= 2)
            #expect(withReset.header("X-RateLimit-Limit") != nil && withReset.header("X-RateLimit-Rule") != nil)
            // The control API is never faulted.
            #expect(try await sim.control("GET", "/health").status == 200)
            _ = try await sim.control("DELETE", "/faults")
            #expect(try await sim.get("/api/sn_chg_rest/change").status == 200)
        }
    }

    @Test func errorRateIsSeededAndReproducible() async throws {
        try await Sim.with { sim in
            _ = try await sim.control("PUT", "/faults", #"{"error_rate":1,"error_status":502}"#)
            let failed = try await sim.get("/api/sn_chg_rest/change")
            #expect(failed.status == 502)
            #expect(failed.json["status"] == .string("failure"))
            #expect(try await sim.passwordToken().status == 502)

            func run() async throws -> [Int] {
                _ = try await sim.control("PUT", "/faults", #"{"error_rate":0.5,"seed":42}"#)
                return try await (0..<30).asyncMap { _ in try await sim.get("/api/sn_chg_rest/change").status }
            }
            let first = try await run()
            let second = try await run()
            #expect(first == second)
            #expect(Set(first) == [200, 503])
        }
    }

    @Test func malformedAnswers() async throws {
        try await Sim.with { sim in
            _ = try await sim.createNormal()
            func malformed(_ kind: String) async throws -> Answer {
                _ = try await sim.control("PUT", "/faults", #"{"malformed_rate":1,"malformed_kind":"\#(kind)"}"#)
                return try await sim.get("/api/sn_chg_rest/change")
            }
            let truncated = try await malformed("truncated")
            #expect(truncated.status == 200)
            #expect((try? JSON.parse(truncated.body)) == nil)
            let html = try await malformed("html")
            #expect(html.status == 200 && html.header("Content-Type")?.hasPrefix("text/html") == true)
            #expect(html.text.contains("<html>"))
            let wrong = try await malformed("wrong_types")
            #expect(wrong.status == 200 && wrong.result.objectValue != nil)
            let token = try await sim.passwordToken()
            #expect(token.json["access_token"] == .int(42))
            #expect(token.json["expires_in"]?.stringValue != nil)
            let errorBody = try await malformed("error_body_200")
            #expect(errorBody.status == 200 && errorBody.json["status"] == .string("failure"))
            #expect(errorBody.json["error"]?["message"]?.stringValue?.contains("Transaction cancelled") == true)
            #expect(try await sim.control("PUT", "/faults", #"{"malformed_kind":"weird"}"#).status == 400)
            #expect(try await sim.control("PUT", "/faults", #"{"nonsense":1}"#).status == 400)
        }
    }

    @Test func aMalformedAnswerStillCarriesOutTheWrite() async throws {
        try await Sim.with { sim in
            _ = try await sim.control("PUT", "/faults", #"{"malformed_rate":1,"malformed_kind":"truncated"}"#)
            let a = try await sim.call("POST", "/api/sn_chg_rest/change/normal", json: #"{"short_description":"lost answer"}"#)
            #expect((try? JSON.parse(a.body)) == nil)
            _ = try await sim.control("DELETE", "/faults")
            let list = try await sim.control("GET", "/changes?short_description=lost answer")
            #expect(list.json["changes"]?.arrayValue?.count == 1)
        }
    }

    @Test func latencyDelaysAnswers() async throws {
        try await Sim.with { sim in
            _ = try await sim.control("PUT", "/faults", #"{"latency_ms":300}"#)
            let clock = ContinuousClock()
            let start = clock.now
            #expect(try await sim.get("/api/sn_chg_rest/change").status == 200)
            #expect(clock.now - start >= .milliseconds(300))
        }
    }

    @Test func requestCountersAndLog() async throws {
        try await Sim.with { sim in
            let token = try await sim.bearer()
            let c = try await sim.createNormal(auth: token)
            _ = try await sim.get("/api/sn_chg_rest/change/\(c.sysID)", auth: token)
            _ = try await sim.get("/api/sn_chg_rest/v1/change/\(c.sysID)", auth: token)
            _ = try await sim.get("/api/sn_chg_rest/change?sysparm_query=number=X", auth: token)
            _ = try await sim.get("/api/sn_chg_rest/change", auth: nil)
            _ = try await sim.control("GET", "/changes")
            let r = try await sim.control("GET", "/requests")
            #expect(r.json["total"] == .int(6))
            #expect(r.json["by_endpoint"] == .obj([
                "GET /api/sn_chg_rest/change": .int(2), "GET /api/sn_chg_rest/change/{id}": .int(1),
                "GET /api/sn_chg_rest/v1/change/{id}": .int(1), "POST /api/sn_chg_rest/change/normal": .int(1),
                "POST /oauth_token.do": .int(1),
            ]))
            let log = try #require(r.json["log"]?.arrayValue)
            #expect(log.count == 6)
            let query = log[4]
            #expect(query["method"] == .string("GET"))
            #expect(query["query"] == .string("sysparm_query=number=X"))
            #expect(query["status"] == .int(200))
            #expect(query["user"] == .string("svc.changegate"))
            #expect(log[5]["status"] == .int(401))
            let at = try #require(query["at"]?.stringValue)
            #expect(at.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil)
            _ = try await sim.control("DELETE", "/requests")
            #expect(try await sim.control("GET", "/requests").json["total"] == .int(0))
        }
    }

    @Test func requestLogIsBounded() async throws {
        try await Sim.with({ $0.requestLogLimit = 3 }) { sim in
            for i in 0..<5 { _ = try await sim.get("/api/sn_chg_rest/change?n=\(i)") }
            let r = try await sim.control("GET", "/requests")
            #expect(r.json["total"] == .int(5))
            #expect(r.json["log"]?.arrayValue?.map { $0["query"]?.stringValue ?? "" } == ["n=2", "n=3", "n=4"])
        }
    }
}

extension Sequence where Element: Sendable {
    /// Runs `body` for each element in order (requests in a known order make fault decisions reproducible).
    func asyncMap<T>(_ body: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await body(e)) }
        return out
    }
}
