import Foundation
import Logging
import ServiceNowModel
import ServiceNowSimulator
import Testing
@testable import ServiceNowClient

@Suite(.serialized) struct SecretLeakTests {
    static let clientSecret = "cs-Zq9wX1-distinctive"
    static let password = "pw-Lm4tR8-distinctive"
    static let wrongPassword = "pw-WRONG-Kp2vN7-distinctive"

    @Test func secretsAndTokensNeverReachLogsOrErrors() async throws {
        let store = CapturingLogHandler.Store()
        var logger = Logger(label: "leak", factory: { _ in CapturingLogHandler(store: store) })
        logger.logLevel = .trace
        try await Sim.run({ c in
            c.oauthClients = [.init(clientID: "changegate", clientSecret: Self.clientSecret)]
            c.users = c.users.map { u in
                var u = u
                u.password = Self.password
                return u
            }
        }) { sim in
            let good = Credentials.password(clientID: "changegate", clientSecret: Secret(Self.clientSecret), username: "svc.changegate", password: Secret(Self.password))
            let client = sim.client(good, name: "leaky", logger: logger)
            let made = try await client.createChange(.normal, fields: ["short_description": "leak check"])
            _ = try await client.statuses(numbers: [made.number])
            try await sim.control(.POST, "/_sim/tokens/revoke")
            _ = try await client.change(sysID: made.sysID)
            let token = try #require(await client.tokens.cachedToken).reveal()

            var descriptions: [String] = []
            let bad = sim.client(.password(clientID: "changegate", clientSecret: Secret(Self.clientSecret), username: "svc.changegate", password: Secret(Self.wrongPassword)),
                                 name: "leaky", logger: logger)
            do throws(ServiceNowError) {
                _ = try await bad.change(sysID: made.sysID)
                Issue.record("wrong password accepted")
            } catch {
                descriptions += [error.description, String(describing: error), String(reflecting: error), error.localizedDescription]
            }
            let basic = sim.client(.basic(username: "svc.changegate", password: Secret(Self.wrongPassword)), name: "leaky", logger: logger)
            do throws(ServiceNowError) { _ = try await basic.serverDate() } catch { descriptions += [error.description, String(reflecting: error)] }
            let norole = sim.client(.password(clientID: "changegate", clientSecret: Secret(Self.clientSecret), username: "norole", password: Secret(Self.password)),
                                    name: "leaky", logger: logger)
            do throws(ServiceNowError) { _ = try await norole.change(sysID: made.sysID) } catch { descriptions += [error.description, String(reflecting: error)] }
            try await sim.faults(["malformed_rate": 1.0, "malformed_kind": "html"])
            do throws(ServiceNowError) { _ = try await client.change(sysID: made.sysID) } catch { descriptions += [error.description] }

            for config in [client.configuration, bad.configuration, basic.configuration] {
                var dumped = ""
                dump(config, to: &dumped)
                descriptions += [String(describing: config), String(reflecting: config), String(describing: config.credentials),
                                 String(reflecting: config.credentials), dumped]
            }
            let lines = store.all
            #expect(lines.contains { $0.contains("servicenow request") && $0.contains("/oauth_token.do") })
            #expect(lines.count > 8)
            #expect(descriptions.count >= 8)
            for text in lines + descriptions {
                for secret in [Self.clientSecret, Self.password, Self.wrongPassword, token] {
                    #expect(!text.contains(secret), "secret in: \(text)")
                }
                #expect(!text.contains("Authorization"))
                #expect(!text.lowercased().contains("bearer "))
            }
        }
    }
}
