import Foundation

/// The whole configuration, as read from `changegate.toml`.
public struct ChangegateConfiguration: Sendable {
    public var path: String
    public var daemon: DaemonSettings
    public var connections: [String: ConnectionSettings]
    public var environments: [String: EnvironmentSettings]
    public var projects: [String: ProjectSettings]

    /// A deployment is change controlled only when both its project and its environment are marked so.
    public func isChangeControlled(project: String, environment: String) -> Bool {
        (projects[project]?.changeControlled ?? false) && (environments[environment]?.changeControlled ?? false)
    }
}

public struct DaemonSettings: Sendable, Equatable {
    public var database: String = "/var/lib/changegate/changegate.db"
    /// How often waiting changes are read from ServiceNow (one batched read per connection).
    public var pollInterval: Duration = .seconds(3)
    /// How often the queue is checked for new rows and cancel requests where the database's file system gives
    /// no change notifications (inotify); where it does, changes are seen at once and this is a slow safety check ×10.
    public var intakeInterval: Duration = .seconds(1)
    public var logLevel: String = "info"
    /// How long a stop waits for running deployments before they are stopped and marked interrupted.
    public var drainTimeout: Duration = .seconds(600)
    /// Test-only: while this file exists the scheduler loop hangs (to prove the watchdog). Never set it in production.
    public var testHangFile: String?
    /// Where `/metrics` is served: nil (off), a loopback `host:port`, or `unix:/path`.
    public var metricsListen: MetricsListen?
}

public enum AuthKind: String, Sendable, CaseIterable {
    case password
    case refreshToken = "refresh_token"
    case clientCredentials = "client_credentials"
    case basic
}

/// A ServiceNow instance and how to log in to it. Secrets are named here and read from files, never inline.
public struct ConnectionSettings: Sendable, Equatable {
    public init(name: String, url: String, auth: AuthKind) {
        self.name = name
        self.url = url
        self.auth = auth
    }

    public var name: String
    public var url: String
    public var auth: AuthKind
    public var clientID: String?
    public var username: String?
    /// A credential name (read from `$CREDENTIALS_DIRECTORY/NAME`) or an absolute path to a file of mode 0600 or 0400.
    public var clientSecretFile: String?
    public var passwordFile: String?
    public var refreshTokenFile: String?
    public var caBundle: String?
    public var timeout: Duration = .seconds(30)
    public var maxConcurrentRequests: Int = 4
    public var statusBatchSize: Int = 100
}

public struct EnvironmentSettings: Sendable, Equatable {
    public var name: String
    public var changeControlled: Bool
}

public enum CloseBehaviour: String, Sendable, CaseIterable {
    /// Leave the change in Implement.
    case none
    /// Move it to Review with a close code.
    case review
    /// Move it to Review then Closed with a close code.
    case closed
}

public struct ProjectSettings: Sendable, Equatable {
    public static let defaultTitle = #"changegate: Deploy "{project}" version {release} to "{environment}""#

    public var name: String
    public var changeControlled: Bool
    public var connection: String?
    /// Standard change template name: when set, new changes are standard changes from it.
    public var changeTemplate: String?
    public var titleFormat: String = Self.defaultTitle
    /// Extra change fields (assignment group, category, planned dates…) sent when a change is created.
    public var changeFields: [String: String] = [:]
    public var command: [String]
    /// Run `command[0]` with `/bin/sh -c`; off unless the config says so.
    public var shell: Bool = false
    public var workingDirectory: String?
    /// Fixed environment variables for the deploy command.
    public var environment: [String: String] = [:]
    public var approvalTimeout: Duration = .seconds(72 * 3600)
    public var executionTimeout: Duration? = .seconds(3600)
    public var killGrace: Duration = .seconds(30)
    /// Running deployments allowed at once per project and environment.
    public var maxConcurrent: Int = 1
    public var closeChange: CloseBehaviour = .none
    public var workNotes: Bool = true

    public init(name: String, changeControlled: Bool, command: [String]) {
        self.name = name
        self.changeControlled = changeControlled
        self.command = command
    }

    /// The change title for a deployment: also what an existing change's short description must equal.
    public func title(release: String, environment: String) -> String {
        titleFormat.replacingOccurrences(of: "{project}", with: name)
            .replacingOccurrences(of: "{release}", with: release)
            .replacingOccurrences(of: "{environment}", with: environment)
    }
}
