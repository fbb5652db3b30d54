import AsyncHTTPClient
import Foundation
import Logging
import ServiceNowModel
import ServiceNowSimulator
import Testing
@testable import ServiceNowClient

/// The client under the simulator's faults: token expiry and revocation, 429, 5xx, malformed answers, bad credentials.
@Suite(.serialized) struct FaultTests {
    @Test func tokenExpiryMidSequenceNeverFailsACall() async throws {
        // Lifetime 10 s, renewed at 80 %: 2 s of margin, enough on two cores shared with every other test.
        try await Sim.run({ $0.tokenLifetime = 10 }) { sim in
            let change = try await sim.createChange("expiry")
            let client = sim.client()
            let until = ContinuousClock.now + .seconds(22)
            var reads = 0
            while ContinuousClock.now < until {
                #expect(try await client.change(sysID: change.sysID).number == change.number)
                reads += 1
                try await Task.sleep(for: .milliseconds(200))
            }
            let counts = try await sim.requests()
            let refused = counts.log.filter { $0.status == 401 }.count
            #expect(counts.byEndpoint["GET /api/sn_chg_rest/change/{id}"] == reads + refused)
            // The token was renewed along the way (when exactly is tested in BackoffTests: timing here depends
            // on how busy the machine is). A read that met an expired token was renewed and retried, never failed.
            let issued = counts.log.filter { $0.path == "/oauth_token.do" && $0.status == 200 }
            #expect(issued.count >= 2)
            #expect(refused <= issued.count)
        }
    }

    @Test func expiredRefreshTokenFallsBackToThePasswordGrant() async throws {
        try await Sim.run({ c in
            // Access 3 s (renewed at 2.4 s), refresh 2 s: each 2.7 s pause outlives both, with margin for a busy machine.
            c.tokenLifetime = 3
            c.refreshTokenLifetime = 2
        }) { sim in
            let change = try await sim.createChange("refresh fallback")
            let client = sim.client()
            for _ in 0..<4 {
                #expect(try await client.change(sysID: change.sysID).number == change.number)
                try await Task.sleep(for: .milliseconds(2700))
            }
            let fullLog = try await sim.requests().log
            let tokenCalls = fullLog.filter { $0.path == "/oauth_token.do" }
            // The refresh grant is tried first; refused (expired), the password grant takes over.
            #expect(tokenCalls.contains { $0.status == 401 })
            #expect(tokenCalls.map(\.status).starts(with: [200]))
            #expect(tokenCalls.filter { $0.status == 200 }.count >= 2)
            #expect(zip(tokenCalls, tokenCalls.dropFirst()).contains { $0.status == 401 && $1.status == 200 })
            let reads = fullLog.filter { $0.path.hasPrefix("/api/") }
            #expect(reads.count == 4)
            #expect(reads.allSatisfy { $0.status == 200 })
        }
    }

    @Test func revokedTokenIsRenewedOnceAndTheCallRetried() async throws {
        try await Sim.run { sim in
            let change = try await sim.createChange("revocation")
            let client = sim.client()
            _ = try await client.change(sysID: change.sysID)
            try await sim.control(.POST, "/_sim/tokens/revoke")
            try await sim.resetRequests()
            #expect(try await client.change(sysID: change.sysID).sysID == change.sysID)
            let log = try await sim.requests().log
            #expect(log.map(\.status) == [401, 200, 200])
            #expect(log.map(\.path) == ["/api/sn_chg_rest/change/\(change.sysID)", "/oauth_token.do", "/api/sn_chg_rest/change/\(change.sysID)"])
            #expect(await client.tokenRequestCount == 2)

            // Scheduled revocations: every call still succeeds.
            try await sim.faults(["revoke_tokens_every_s": 1])
            for _ in 0..<8 {
                _ = try await client.change(sysID: change.sysID)
                try await Task.sleep(for: .milliseconds(400))
            }
        }
    }

    @Test func rateLimitWaitsForRetryAfter() async throws {
        try await Sim.run { sim in
            let change = try await sim.createChange("429")
            let client = sim.client(retry: RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(10), maxDelay: .seconds(5)))
            _ = try await client.change(sysID: change.sysID)
            try await sim.faults(["rate_limit_every": 2, "retry_after": 1])
            try await sim.resetRequests()
            _ = try await client.change(sysID: change.sysID)
            _ = try await client.change(sysID: change.sysID)
            let log = try await sim.requests().log
            #expect(log.map(\.status) == [200, 429, 200])
            let waited = log[2].at.timeIntervalSince(log[1].at)
            #expect(waited >= 1.0, "retried \(waited) s after the 429")
            #expect(waited < 2.5)
        }
    }

    @Test func rateLimitResetHeaderIsHonouredAndLongWaitsSurface() async throws {
        try await Sim.run { sim in
            let change = try await sim.createChange("429 reset")
            let client = sim.client(retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .seconds(2)))
            _ = try await client.change(sysID: change.sysID)
            try await sim.faults(["rate_limit_every": 1, "retry_after": 1, "rate_limit_reset": true])
            try await sim.resetRequests()
            let start = ContinuousClock.now
            await #expect {
                try await client.change(sysID: change.sysID)
            } throws: { error in
                guard case .rateLimited(let c, let after)? = error as? ServiceNowError else { return false }
                return c == "sim" && after != nil
            }
            #expect(ContinuousClock.now - start >= .seconds(2))
            #expect(try await sim.requests().total == 3)

            // The instance asks for longer than the policy's maxDelay: surfaced at once for the caller to schedule.
            try await sim.faults(["rate_limit_every": 1, "retry_after": 3600])
            try await sim.resetRequests()
            await #expect(throws: ServiceNowError.rateLimited(connection: "sim", retryAfter: .seconds(3600))) {
                try await client.change(sysID: change.sysID)
            }
            #expect(try await sim.requests().total == 1)
        }
    }

    @Test func serverErrorBurstsAreRetriedOnReads() async throws {
        try await Sim.run { sim in
            let change = try await sim.createChange("5xx")
            let client = sim.client(retry: RetryPolicy(maxAttempts: 8, baseDelay: .milliseconds(5), maxDelay: .milliseconds(50)))
            _ = try await client.change(sysID: change.sysID)
            try await sim.faults(["error_rate": 0.5, "error_status": 502, "seed": 7])
            try await sim.resetRequests()
            for _ in 0..<10 { #expect(try await client.change(sysID: change.sysID).number == change.number) }
            let log = try await sim.requests().log
            #expect(log.contains { $0.status == 502 })
            #expect(log.filter { $0.status == 200 }.count == 10)

            try await sim.faults(["error_rate": 1.0, "error_status": 500])
            try await sim.resetRequests()
            await #expect {
                try await client.change(sysID: change.sysID)
            } throws: { error in
                guard case .serverError(_, 500, _)? = error as? ServiceNowError else { return false }
                return (error as! ServiceNowError).isTransient
            }
            #expect(try await sim.requests().total == 8)
        }
    }

    @Test func writesAreNotRetriedWhenAmbiguous() async throws {
        try await Sim.run { sim in
            let client = sim.client()
            _ = try await client.serverDate()
            // 500 after the request reached the instance: one attempt, surfaced as ambiguous.
            try await sim.faults(["error_rate": 1.0, "error_status": 500])
            try await sim.resetRequests()
            await #expect {
                try await client.createChange(.normal, fields: ["short_description": "x", "correlation_id": "cg-amb-1"])
            } throws: { error in
                guard case .ambiguousWrite? = error as? ServiceNowError else { return false }
                return true
            }
            #expect(try await sim.requests().total == 1)

            // 503: refused before processing, so retried.
            try await sim.faults(["error_rate": 1.0, "error_status": 503])
            try await sim.resetRequests()
            await #expect {
                try await client.createChange(.normal, fields: ["short_description": "x"])
            } throws: { error in
                guard case .serverError(_, 503, _)? = error as? ServiceNowError else { return false }
                return true
            }
            #expect(try await sim.requests().total == Sim.fastRetry.maxAttempts)

            // Applied, but the answer is unreadable: ambiguous, not retried; the change exists once.
            try await sim.faults(["malformed_rate": 1.0, "malformed_kind": "truncated"])
            try await sim.resetRequests()
            await #expect {
                try await client.createChange(.normal, fields: ["short_description": "y", "correlation_id": "cg-amb-2"])
            } throws: { error in
                guard case .ambiguousWrite(_, _, let reason)? = error as? ServiceNowError else { return false }
                return reason.contains("could not be read")
            }
            try await sim.clearFaults()
            let made = try await client.searchChanges(ChangeQuery().correlationID(.equals("cg-amb-2")))
            #expect(made.count == 1)
        }
    }

    @Test(arguments: ["truncated", "html", "wrong_types", "error_body_200"])
    func malformedAnswersAreRetriedThenReported(kind: String) async throws {
        try await Sim.run { sim in
            let change = try await sim.createChange("malformed")
            let client = sim.client()
            _ = try await client.change(sysID: change.sysID)
            try await sim.faults(["malformed_rate": 1.0, "malformed_kind": kind])
            await #expect {
                try await client.change(sysID: change.sysID)
            } throws: { error in
                guard case .malformedResponse(let c, let endpoint, _)? = error as? ServiceNowError else { return false }
                return c == "sim" && endpoint.hasPrefix("GET /api/sn_chg_rest/change/")
            }
            await #expect(throws: ServiceNowError.self) { try await client.statuses(numbers: [change.number]) }
            // Some damaged answers: the retries get through.
            try await sim.faults(["malformed_rate": 0.4, "malformed_kind": kind, "seed": 3])
            for _ in 0..<5 { #expect(try await client.change(sysID: change.sysID).number == change.number) }
        }
    }

    @Test func wrongPasswordIsCredentialsRejected() async throws {
        try await Sim.run { sim in
            let client = sim.client(.password(clientID: "changegate", clientSecret: Secret("sim-client-secret"), username: "svc.changegate", password: Secret("wrong")), name: "prod")
            await #expect(throws: ServiceNowError.credentialsRejected(connection: "prod")) { try await client.change(number: "CHG0030001") }
            let wrongSecret = sim.client(.clientCredentials(clientID: "changegate", clientSecret: Secret("nope")), name: "prod")
            await #expect(throws: ServiceNowError.credentialsRejected(connection: "prod")) { try await wrongSecret.serverDate() }
            let wrongBasic = sim.client(.basic(username: "svc.changegate", password: Secret("nope")), name: "prod")
            await #expect(throws: ServiceNowError.credentialsRejected(connection: "prod")) { try await wrongBasic.serverDate() }
            // Not retried: a 401 from /oauth_token.do is final.
            let counts = try await sim.requests()
            #expect(counts.byEndpoint["POST /oauth_token.do"] == 2)
        }
    }

    @Test func roleLessUserIsForbidden() async throws {
        try await Sim.run { sim in
            let change = try await sim.createChange("acl")
            let norole = sim.client(.password(clientID: "changegate", clientSecret: Secret("sim-client-secret"), username: "norole", password: Secret("sim-password")))
            await #expect {
                try await norole.change(sysID: change.sysID)
            } throws: { error in
                guard let e = error as? ServiceNowError, case .forbidden(_, let message, let detail) = e else { return false }
                return message == "Operation Failed" && detail?.contains("ACL") == true && e.description.contains("sn_change_read")
            }
            let reader = sim.client(.password(clientID: "changegate", clientSecret: Secret("sim-client-secret"), username: "reader", password: Secret("sim-password")))
            #expect(try await reader.change(sysID: change.sysID).number == change.number)
            await #expect {
                try await reader.createChange(.normal, fields: ["short_description": "nope"])
            } throws: { error in
                guard case .forbidden? = error as? ServiceNowError else { return false }
                return true
            }
        }
    }

    @Test func timeoutsAndUnreachableInstances() async throws {
        try await Sim.run { sim in
            let change = try await sim.createChange("slow")
            let client = sim.client(retry: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(10), maxDelay: .milliseconds(20)), timeout: .seconds(1))
            _ = try await client.change(sysID: change.sysID)
            try await sim.faults(["latency_ms": 3000])
            await #expect(throws: ServiceNowError.timeout(connection: "sim")) { try await client.change(sysID: change.sysID) }
            await #expect {
                try await client.createChange(.normal, fields: ["short_description": "slow create"])
            } throws: { error in
                guard case .ambiguousWrite? = error as? ServiceNowError else { return false }
                return true
            }
        }
        // Nothing listens on port 1: connection refused, provably not sent, so even a create is retried.
        let config = ConnectionConfiguration(name: "down", baseURL: "http://127.0.0.1:1", credentials: .basic(username: "u", password: Secret("p")),
                                             requestTimeout: .seconds(5), retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(20)))
        // The factory's client leaves connect retries to the retry policy: a refused connection fails fast.
        let http = try ServiceNowClient.makeHTTPClient(for: [config], environment: [:])
        let client = ServiceNowClient(configuration: config, httpClient: http, logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let start = ContinuousClock.now
        await #expect {
            try await client.createChange(.normal, fields: ["short_description": "x"])
        } throws: { error in
            guard case .transport(let c, _)? = error as? ServiceNowError else { return false }
            return c == "down"
        }
        #expect(ContinuousClock.now - start < .seconds(4), "refused at once, not waited out (the request timeout is 5 s)")
        try await http.shutdown()
    }

    @Test func concurrencyIsBoundedAndTokenRequestsShared() async throws {
        try await Sim.run { sim in
            let change = try await sim.createChange("parallel")
            let client = sim.client(concurrency: 2)
            try await sim.faults(["latency_ms": 100])
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<10 { group.addTask { _ = try await client.change(sysID: change.sysID) } }
                try await group.waitForAll()
            }
            // One token request (100 ms) first, then 10 reads two at a time: at least 6 × 100 ms.
            #expect(ContinuousClock.now - start >= .milliseconds(600))
            let counts = try await sim.requests()
            #expect(counts.byEndpoint["POST /oauth_token.do"] == 1)
            #expect(counts.byEndpoint["GET /api/sn_chg_rest/change/{id}"] == 10)
        }
    }
}
