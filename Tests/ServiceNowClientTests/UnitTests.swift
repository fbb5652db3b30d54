import AsyncHTTPClient
import Foundation
import Synchronization
import Testing
@testable import ServiceNowClient

@Suite struct RedactionTests {
    static let secrets = ["S3cr3t-client-XyZ", "P4ssw0rd-user-QwE", "R3fresh-tok-AbC"]

    @Test func secretsNeverPrint() {
        let s = Secret(Self.secrets[0])
        #expect("\(s)" == "<redacted>")
        #expect(String(reflecting: s) == "<redacted>")
        var dumped = ""
        dump(s, to: &dumped)
        #expect(!dumped.contains(Self.secrets[0]))
        #expect(s.reveal() == Self.secrets[0])
    }

    @Test func configurationAndCredentialsNeverPrintSecrets() {
        let all: [Credentials] = [
            .password(clientID: "changegate", clientSecret: Secret(Self.secrets[0]), username: "svc", password: Secret(Self.secrets[1])),
            .refreshToken(clientID: "changegate", clientSecret: Secret(Self.secrets[0]), refreshToken: Secret(Self.secrets[2])),
            .clientCredentials(clientID: "changegate", clientSecret: Secret(Self.secrets[0])),
            .basic(username: "svc", password: Secret(Self.secrets[1])),
        ]
        for credentials in all {
            let config = ConnectionConfiguration(name: "prod", baseURL: "https://acme.service-now.com", credentials: credentials)
            var dumped = ""
            dump(config, to: &dumped)
            dump(credentials, to: &dumped)
            let texts = [String(describing: config), String(reflecting: config), String(describing: credentials),
                         String(reflecting: credentials), "\(config)", dumped, String(describing: [config])]
            for text in texts {
                for secret in Self.secrets { #expect(!text.contains(secret), "leaked in \(text)") }
            }
            #expect(String(describing: config).contains("prod"))
        }
        let withUserInfo = ConnectionConfiguration(name: "p", baseURL: "https://svc:\(Self.secrets[1])@acme.service-now.com", credentials: all[3])
        #expect(!String(describing: withUserInfo).contains(Self.secrets[1]))
        #expect(String(describing: withUserInfo).contains("https://acme.service-now.com"))
    }

    @Test func errorDescriptionsNameTheConnectionAndSayWhatToDo() {
        let errors: [ServiceNowError] = [
            .credentialsRejected(connection: "prod"), .notAuthenticated(connection: "prod"),
            .forbidden(connection: "prod", message: "Operation Failed", detail: "ACL Exception"),
            .notFound(connection: "prod", what: "change request CHG1"),
            .badRequest(connection: "prod", message: "Requested URI does not represent any resource", detail: nil),
            .rateLimited(connection: "prod", retryAfter: .seconds(3)), .serverError(connection: "prod", status: 502, message: ""),
            .transport(connection: "prod", description: "connection refused"), .timeout(connection: "prod"),
            .malformedResponse(connection: "prod", endpoint: "GET /api", reason: "not JSON"),
            .ambiguousWrite(connection: "prod", operation: "create a normal change", reason: "timeout"), .cancelled(connection: "prod"),
        ]
        for e in errors {
            #expect(e.description.contains("'prod'"))
            #expect(e.connection == "prod")
        }
        #expect(ServiceNowError.credentialsRejected(connection: "prod").description.contains("client id"))
        #expect(ServiceNowError.forbidden(connection: "prod", message: "m", detail: nil).description.contains("sn_change_read"))
        #expect(ServiceNowError.forbidden(connection: "prod", message: "m", detail: nil).description.contains("itil"))
        #expect(ServiceNowError.badRequest(connection: "prod", message: "Requested URI does not represent any resource", detail: nil)
            .description.contains("activate the Change Management REST API (sn_chg_rest) plugin"))
        #expect(ServiceNowError.timeout(connection: "p").isTransient)
        #expect(ServiceNowError.rateLimited(connection: "p", retryAfter: nil).isTransient)
        #expect(!ServiceNowError.forbidden(connection: "p", message: "", detail: nil).isTransient)
        #expect(!ServiceNowError.ambiguousWrite(connection: "p", operation: "", reason: "").isTransient)
    }
}

@Suite struct ProxyTests {
    @Test func parsesProxyURLs() throws {
        #expect(try ProxySettings.parse("http://proxy.corp:3128") == .server(host: "proxy.corp", port: 3128))
        #expect(try ProxySettings.parse("proxy.corp:8080") == .server(host: "proxy.corp", port: 8080))
        #expect(try ProxySettings.parse("http://proxy.corp/") == .server(host: "proxy.corp", port: 80))
        let withAuth = try ProxySettings.parse("http://u%40x:p%3Aw@proxy:3128")
        #expect(withAuth.host == "proxy" && withAuth.port == 3128)
        #expect(withAuth.authorization == .basic(username: "u@x", password: "p:w"))
        #expect(throws: ClientSetupError.self) { try ProxySettings.parse("socks5://proxy:1080") }
    }

    @Test func noProxyExemptsMatchingHosts() throws {
        let env = ["HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "localhost, .internal.example, service-now.com:443"]
        #expect(try ProxySettings.proxy(forHost: "acme.service-now.com", environment: env) == nil)
        #expect(try ProxySettings.proxy(forHost: "service-now.com", environment: env) == nil)
        #expect(try ProxySettings.proxy(forHost: "snow.internal.example", environment: env) == nil)
        #expect(try ProxySettings.proxy(forHost: "acme.servicenowservices.com", environment: env) == .server(host: "proxy", port: 3128))
        #expect(try ProxySettings.proxy(forHost: "notservice-now.com", environment: env) != nil)
        #expect(try ProxySettings.proxy(forHost: "x", environment: ["https_proxy": "http://p:1", "no_proxy": "*"]) == nil)
        #expect(try ProxySettings.proxy(forHost: "x", environment: [:]) == nil)
        // Lowercase wins, as with curl.
        #expect(try ProxySettings.proxy(forHost: "x", environment: ["https_proxy": "http://a:1", "HTTPS_PROXY": "http://b:2"]) == .server(host: "a", port: 1))
    }

    @Test func makeHTTPClientChecksCABundleAndProxyAgreement() async throws {
        let config = ConnectionConfiguration(name: "p", baseURL: "https://acme.service-now.com", credentials: .basic(username: "u", password: Secret("x")),
                                             caBundlePath: "/nonexistent/ca.pem")
        #expect(throws: ClientSetupError.self) { try ServiceNowClient.makeHTTPClient(for: [config], environment: [:]) }
        var a = config
        a.caBundlePath = nil
        var b = a
        b.baseURL = "https://other.example"
        let env = ["HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "service-now.com"]
        #expect(throws: ClientSetupError.self) { try ServiceNowClient.makeHTTPClient(for: [a, b], environment: env) }
        #expect(try ServiceNowClient.httpClientConfiguration(for: [b], environment: env).proxy == .server(host: "proxy", port: 3128))
        #expect(try ServiceNowClient.httpClientConfiguration(for: [a], environment: env).proxy == nil)
        let client = try ServiceNowClient.makeHTTPClient(for: [a, a], environment: env)
        try await client.shutdown()
    }
}

@Suite struct ConcurrencyTests {
    @Test func limiterNeverExceedsItsLimit() async throws {
        let limiter = ConcurrencyLimiter(limit: 3)
        let counters = Locked((current: 0, peak: 0))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<30 {
                group.addTask {
                    try await limiter.acquire()
                    counters.withLock { $0.current += 1; $0.peak = max($0.peak, $0.current) }
                    try await Task.sleep(for: .milliseconds(5))
                    counters.withLock { $0.current -= 1 }
                    limiter.release()
                }
            }
            try await group.waitForAll()
        }
        #expect(counters.withLock { $0.peak } == 3)
        #expect(limiter.availablePermits == 3)
    }

    @Test func cancelledWaiterLeavesTheQueue() async throws {
        let limiter = ConcurrencyLimiter(limit: 1)
        try await limiter.acquire()
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do { try await limiter.acquire(); return false } catch { return true }
            }
            try? await Task.sleep(for: .milliseconds(50))
            group.cancelAll()
            #expect(await group.next() == true)
        }
        limiter.release()
        #expect(limiter.availablePermits == 1)
    }

    @Test func concurrentCallersShareOneTokenRequest() async throws {
        let store = TokenStore()
        let calls = Locked(0)
        let fetch: TokenStore.Fetch = { _ async throws(ServiceNowError) in
            calls.withLock { $0 += 1 }
            try? await Task.sleep(for: .milliseconds(50))
            return AccessToken(value: Secret("tok"), refreshToken: Secret("ref"), lifetime: .seconds(1800))
        }
        let tokens = await withTaskGroup(of: String.self) { group in
            for _ in 0..<50 { group.addTask { (try? await store.token(fetch: fetch).reveal()) ?? "" } }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(tokens.count == 50 && tokens.allSatisfy { $0 == "tok" })
        #expect(calls.withLock { $0 } == 1)
        #expect(await store.fetchCount == 1)
        // A refused token is dropped; the next caller fetches again, with the refresh token.
        await store.invalidate(Secret("tok"))
        let seen = Locked<Secret?>(nil)
        _ = try await store.token { refresh async throws(ServiceNowError) in
            seen.withLock { $0 = refresh }
            return AccessToken(value: Secret("tok2"), refreshToken: nil, lifetime: .seconds(1800))
        }
        #expect(seen.withLock { $0 } == Secret("ref"))
    }

    @Test func failedTokenRequestReachesEveryWaiter() async throws {
        let store = TokenStore()
        let fetch: TokenStore.Fetch = { _ async throws(ServiceNowError) in
            try? await Task.sleep(for: .milliseconds(30))
            throw .credentialsRejected(connection: "p")
        }
        let failures = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    do throws(ServiceNowError) { _ = try await store.token(fetch: fetch); return false } catch { return error == .credentialsRejected(connection: "p") }
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 10)
        #expect(await store.fetchCount == 1)
    }
}

/// A Mutex in a class, so concurrent test closures can share it.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout sending Value) -> sending R) -> R { mutex.withLock(body) }
}

@Suite struct RequestBudgetTests {
    let start = Date(timeIntervalSince1970: 1_900_000_000)

    @Test func pollsRunFreelyWithinTheBurstThenAtTheRefillRate() {
        let budget = RequestBudget(perHour: 1800, now: start)  // burst 180, refill 0.45 a second
        var t = start
        var polls = 0
        // A poll a second spends one; the burst lasts, then polls wait for the refill.
        for _ in 0..<2000 {
            if budget.pollStart(due: t) <= t { budget.spend(at: t); polls += 1 }
            t = t.addingTimeInterval(1)
        }
        #expect(polls < 2000, "stretched once the burst is spent")
        #expect(polls <= 180 + Int(0.45 * 2000) + 1, "never more than the burst plus the refill")
        for _ in 0..<10 { budget.spend(at: t) }
        let next = budget.pollStart(due: t)
        #expect(next > t && next.timeIntervalSince(t) < 30, "the next poll waits for ten refill steps, not an hour")
    }

    @Test func aBurstOfWorkSlowsPollsToTheRefillRateButNeverSilencesThem() {
        let budget = RequestBudget(perHour: 1000, now: start)  // burst 100, refill 0.25 a second
        for _ in 0..<5000 { budget.spend(at: start) }  // 5,000 deployments resolved at once: never held back
        #expect(budget.figures(now: start).lastHour == 5000, "all counted")
        #expect(budget.figures(now: start).available == -1, "but at most one token of debt")
        let delta = budget.pollStart(due: start)
        #expect(delta > start && delta.timeIntervalSince(start) <= 8.1, "the next poll waits for two refill steps, not for hours")
        #expect(budget.pollStart(due: start, priority: true) < delta, "the reconcile goes a step ahead of a delta")
    }

    @Test func aLargeReconcileRunsLessOftenThanHalfTheBudgetAllows() {
        let budget = RequestBudget(perHour: 3000, now: start)
        #expect(budget.reconcileInterval(base: 60, requests: 10) == 60)
        #expect(budget.reconcileInterval(base: 60, requests: 100) == 240, "10,000 watched changes: every 4 minutes")
    }

    @Test func aRateLimitAnswerPausesPollsUntilTheInstanceSays() {
        let budget = RequestBudget(perHour: 3000, now: start)
        budget.instanceReported(limit: 200, retryAt: start.addingTimeInterval(120), now: start)
        #expect(budget.figures(now: start).perHour == 200)
        #expect(budget.pollStart(due: start, priority: true) >= start.addingTimeInterval(120))
    }

    @Test func requestsOlderThanAnHourLeaveTheFigures() {
        let budget = RequestBudget(perHour: 3000, now: start)
        budget.spend(at: start)
        budget.spend(at: start.addingTimeInterval(1800))
        #expect(budget.figures(now: start.addingTimeInterval(3700)).lastHour == 1)
    }
}
