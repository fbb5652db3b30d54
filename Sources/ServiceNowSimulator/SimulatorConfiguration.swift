import Foundation
import Logging

/// A user of the simulated instance: can log in (OAuth password grant or HTTP Basic) and may approve changes.
public struct SimulatorUser: Sendable, Codable, Equatable {
    public var sysID: String
    public var userName: String
    public var name: String
    public var password: String
    public var roles: [String]
    public var email: String

    public init(sysID: String, userName: String, name: String, password: String = "sim-password", roles: [String], email: String? = nil) {
        self.sysID = sysID
        self.userName = userName
        self.name = name
        self.password = password
        self.roles = roles
        self.email = email ?? "\(userName)@example.com"
    }

    /// The seeded users. `admin`'s sys_id is the one real instances give "System Administrator".
    public static let defaults: [SimulatorUser] = [
        .init(sysID: "6816f79cc0a8016401c5a33be04be441", userName: "admin", name: "System Administrator", roles: ["admin"]),
        .init(sysID: "5a1c0e7e1b4f4c2a9d3e8f7a6b5c4d01", userName: "svc.changegate", name: "changegate Service Account", roles: ["itil"]),
        .init(sysID: "5a1c0e7e1b4f4c2a9d3e8f7a6b5c4d02", userName: "reader", name: "Change Reader", roles: ["sn_change_read"]),
        .init(sysID: "5a1c0e7e1b4f4c2a9d3e8f7a6b5c4d03", userName: "norole", name: "No Role User", roles: []),
        .init(sysID: "5a1c0e7e1b4f4c2a9d3e8f7a6b5c4d04", userName: "alice.approver", name: "Alice Approver", roles: ["itil", "approver_user"]),
        .init(sysID: "5a1c0e7e1b4f4c2a9d3e8f7a6b5c4d05", userName: "bob.cab", name: "Bob CAB", roles: ["itil", "approver_user"]),
        .init(sysID: "5a1c0e7e1b4f4c2a9d3e8f7a6b5c4d06", userName: "carol.manager", name: "Carol Change Manager", roles: ["itil", "change_manager"]),
    ]
}

/// An OAuth application registered on the instance (System OAuth > Application Registry).
public struct SimulatorOAuthClient: Sendable, Equatable {
    public var clientID: String
    public var clientSecret: String
    /// The user a `client_credentials` token acts as (the app's "OAuth Application User").
    public var clientCredentialsUser: String

    public init(clientID: String, clientSecret: String, clientCredentialsUser: String = "svc.changegate") {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.clientCredentialsUser = clientCredentialsUser
    }
}

/// Everything that shapes one simulated instance. Defaults give the seeded instance described in API-NOTES.md.
public struct SimulatorConfiguration: Sendable {
    /// Address to bind; loopback by default so the simulator is never reachable from elsewhere by accident.
    public var host: String = "127.0.0.1"
    /// 0 picks a free port (read it from `onListening` or `portFile`).
    public var port: Int = 8090
    /// Access-token lifetime in seconds (ServiceNow default 1799).
    public var tokenLifetime: Double = 1799
    /// Refresh-token lifetime in seconds (ServiceNow default 100 days).
    public var refreshTokenLifetime: Double = 100 * 86_400
    /// Where changes, approvers, journals and the next number are kept across restarts; nil keeps them in memory.
    public var stateFile: String?
    /// How long after a change the state file is written (writes are coalesced).
    public var persistInterval: Duration = .milliseconds(200)
    /// Seeds sys_id generation and fault decisions, so runs are reproducible.
    public var seed: UInt64 = 0x5eed
    /// Names of the approvers asked when a change enters Authorize. Unknown names become new users.
    public var approvers: [String] = ["Alice Approver", "Bob CAB"]
    public var users: [SimulatorUser] = SimulatorUser.defaults
    public var oauthClients: [SimulatorOAuthClient] = [.init(clientID: "changegate", clientSecret: "sim-client-secret")]
    /// Real instances have the client_credentials grant off by default; the simulator has it on unless told.
    public var clientCredentialsEnabled: Bool = true
    /// Real state models go Implement → Review → Closed; allow Implement → Closed in one step only when asked.
    public var allowImplementToClosed: Bool = false
    /// Time zone of display values. Real instances show dates in the user's zone (the captures are US Pacific),
    /// while `value` stays UTC; a client that reads display values gets caught.
    public var displayTimeZone: String = "America/Los_Angeles"
    /// Written with the bound port once listening (tests bind port 0 and read it).
    public var portFile: String?
    /// How long a conflict check or CI association worker runs before it completes (asynchronous, as on the instance).
    public var jobDuration: Duration = .milliseconds(60)
    /// `com.glide.attachment.max_size` in MB (the instance's default 1024); larger uploads are refused.
    public var attachmentMaxSizeMB: Double = 1024
    /// How many request-log entries `GET /_sim/requests` keeps.
    public var requestLogLimit: Int = 100_000
    /// Receives one `.info` line per API request and `.error`s (state file). Quiet (`.warning`) by default,
    /// so tests embedding the simulator stay readable; the executable logs requests unless --quiet.
    public var logger: Logger = {
        var logger = Logger(label: "changegate-snowsim")
        logger.logLevel = .warning
        return logger
    }()

    public init() {}
}
