import Foundation
import Logging
import Testing
@testable import ServiceNowClient

/// The single calls `changegate doctor` makes, against the in-process simulator.
@Suite(.serialized) struct ProbeTests {
    @Test func tokenProbeNamesTheGrantAndTheClientKeepsTheToken() async throws {
        try await Sim.run { sim async throws in
            let client = sim.client()
            let probe = try #require(try await client.probeToken())
            #expect(probe.grant == "password")
            guard case .issued(let expiresIn) = probe.outcome else {
                Issue.record("no token: \(probe.outcome)")
                return
            }
            #expect((expiresIn ?? .zero) > .zero, "the simulator sends expires_in")
            _ = try await client.serverDate()
            #expect(await client.tokenRequestCount == 1, "the read used the probed token")
            #expect(try await sim.requests().log.filter { $0.path == "/oauth_token.do" }.count == 1)
        }
    }

    @Test func aRefusedGrantComesBackWithTheInstancesAnswer() async throws {
        try await Sim.run { sim async throws in
            let client = sim.client(.clientCredentials(clientID: "changegate", clientSecret: Secret("not-the-secret")))
            let probe = try #require(try await client.probeToken())
            #expect(probe.grant == "client_credentials")
            guard case .refused(let status, let answer) = probe.outcome else {
                Issue.record("a token was issued for a wrong secret")
                return
            }
            #expect(status == 401)
            #expect(answer.contains("access_denied"), "\(answer)")
            #expect(!answer.contains("not-the-secret"))
            #expect(try await sim.requests().log.filter { $0.path == "/oauth_token.do" }.count == 1, "not retried")
        }
    }

    @Test func basicAuthHasNoTokenToProbe() async throws {
        try await Sim.run { sim async throws in
            let client = sim.client(.basic(username: "svc.changegate", password: Secret("sim-password")))
            #expect(try await client.probeToken() == nil)
            #expect(try await sim.requests().log.isEmpty)
        }
    }

    @Test func rootProbeReturnsAnyStatusAndThrowsOnlyWithoutAnAnswer() async throws {
        try await Sim.run { sim async throws in
            // A generous timeout: this suite shares two cores with every other test.
            let status = try await sim.client(timeout: .seconds(60)).probeRoot()
            #expect((200..<600).contains(status), "status \(status)")
            let log = try await sim.requests().log
            #expect(log.count == 1 && log.first?.path == "/" && log.first?.user == "", "one unauthenticated GET: \(log)")
        }
        let closed = ConnectionConfiguration(name: "closed", baseURL: "http://127.0.0.1:1",
                                             credentials: .basic(username: "u", password: Secret("p")))
        let http = try ServiceNowClient.makeHTTPClient(for: [closed], environment: [:])
        let client = ServiceNowClient(configuration: closed, httpClient: http, logger: .init(label: "t", factory: { _ in SwiftLogNoOpLogHandler() }))
        let error = await #expect(throws: ServiceNowError.self) { _ = try await client.probeRoot() }
        try await http.shutdown()
        guard case .transport(connection: "closed", _)? = error else {
            Issue.record("a refused connection is a transport error, not \(String(describing: error))")
            return
        }
    }

    @Test func writeProbeTellsARefusalFromAnAbsentRecordAndChangesNothing() async throws {
        try await Sim.run { sim async throws in
            let before = try await sim.client().searchChanges(ChangeQuery())
            do throws(ServiceNowError) {
                try await sim.client().probeWriteAccess()
            } catch .notFound {
                // svc.changegate may write: the absent record is not found.
            } catch {
                Issue.record("svc.changegate: \(error)")
            }
            let reader = sim.client(.password(clientID: "changegate", clientSecret: Secret("sim-client-secret"),
                                              username: "reader", password: Secret("sim-password")))
            do throws(ServiceNowError) {
                try await reader.probeWriteAccess()
                Issue.record("the reader's update was accepted")
            } catch .forbidden {
                // The reader may not write.
            } catch {
                Issue.record("reader: \(error)")
            }
            #expect(try await sim.client().searchChanges(ChangeQuery()) == before)
        }
    }

    @Test func rolesAreReadFromSysUser() async throws {
        try await Sim.run { sim async throws in
            let client = sim.client()
            #expect(try await client.roles(ofUser: "svc.changegate") == ["itil"])
            #expect(try await client.roles(ofUser: "carol.manager") == ["itil", "change_manager"])
            #expect(try await client.roles(ofUser: "nobody.here") == nil)
            #expect(try await client.roles(ofUser: "svc^NQuser_name=admin") == nil, "not a user name: no query is sent")
        }
    }

    @Test func proxyRuleIsTheHTTPClients() throws {
        let env = ["HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": ".internal.example"]
        let proxy = try ServiceNowClient.proxy(forHost: "acme.service-now.com", environment: env)
        #expect(proxy?.host == "proxy.corp" && proxy?.port == 3128)
        #expect(try ServiceNowClient.proxy(forHost: "snow.internal.example", environment: env) == nil)
        #expect(try ServiceNowClient.proxy(forHost: "acme.service-now.com", environment: [:]) == nil)
        #expect(throws: ClientSetupError.self) { try ServiceNowClient.proxy(forHost: "x", environment: ["https_proxy": "socks5://p:1"]) }
    }
}
