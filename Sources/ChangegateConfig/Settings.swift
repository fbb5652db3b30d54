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
    /// An SQLite file, or a `postgresql://` URL (then `postgres` holds it parsed).
    public var database: String = "/var/lib/changegate/changegate.db"
    /// Set when `database` is a PostgreSQL URL.
    public var postgres: PostgresSettings?
    /// How often each connection asks ServiceNow which changes were updated (one delta read, whatever the number
    /// of waiting deployments), while any deployment waits on or runs under a change.
    public var pollInterval: Duration = .seconds(1)
    /// How often the delta read is replaced by a full batched read of every watched change, so that nothing is
    /// stranded by an update the delta missed. A failed poll is always followed by one.
    public var reconcileInterval: Duration = .seconds(60)
    /// How far each delta read reaches back before the previous one started: covers the network's delay, the
    /// instance's one-second timestamps and updates committed while the previous read ran.
    public var pollOverlap: Duration = .seconds(5)
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
    /// Push notifications from ServiceNow: nil (off, polling only) unless `webhook_listen` is set.
    public var webhook: WebhookSettings?
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
    /// Requests this connection may send in an hour. Polls stretch to stay within it (the instance's own
    /// `X-RateLimit-Limit`, when lower, wins); re-checks of running deployments are never held back.
    public var requestsPerHour: Int = 3000
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
    /// The schedule-aware gate (docs/schedule-gate.md): overridable per environment.
    public var conflictCheck: ConflictCheck = .off
    /// Stop a run when a blackout span begins before it ends (read only when `conflictCheck` is not off).
    public var stopOnBlackout: Bool = true
    /// How often a deployment held by a reported conflict runs the conflict check again.
    public var conflictRecheck: Duration = .seconds(60)
    /// Configuration items (name or sys_id) set on created changes and associated as affected CIs.
    public var configurationItems: [String] = []
    /// Attach the task log and a JSON evidence record to the change after every deployment.
    public var evidence: Bool = true
    /// The largest log attachment; a longer log is cut with a marker line.
    public var evidenceMaxBytes: Int = 5 * 1024 * 1024
    /// Templates a row's `change_template` may name (the configured `change_template` is always allowed).
    public var allowedChangeTemplates: [String] = []
    /// Where a standard change goes when its deployment failed; nil: as `closeChange` says.
    public var closeChangeOnFailure: FailureClose?
    /// `[projects.NAME.environments.ENV]`: per-environment overrides, applied by `settings(for:)`.
    public var environmentOverrides: [String: EnvironmentOverride] = [:]

    public init(name: String, changeControlled: Bool, command: [String]) {
        self.name = name
        self.changeControlled = changeControlled
        self.command = command
    }

    /// The project's settings for one environment: its `[projects.NAME.environments.ENV]` table applied.
    public func settings(for environment: String) -> ProjectSettings {
        guard let o = environmentOverrides[environment] else { return self }
        var p = self
        if let v = o.conflictCheck { p.conflictCheck = v }
        if let v = o.stopOnBlackout { p.stopOnBlackout = v }
        if let v = o.configurationItems { p.configurationItems = v }
        if let v = o.changeTemplate { p.changeTemplate = v.isEmpty ? nil : v }
        return p
    }

    /// The change title for a deployment: also what an existing change's short description must equal.
    public func title(release: String, environment: String) -> String {
        titleFormat.replacingOccurrences(of: "{project}", with: name)
            .replacingOccurrences(of: "{release}", with: release)
            .replacingOccurrences(of: "{environment}", with: environment)
    }
}

/// `conflict_check`: what a conflict reported by ServiceNow's conflict check does to a deployment.
public enum ConflictCheck: String, Sendable, CaseIterable {
    /// Wait while a conflict is reported (at most `approval_timeout`), start once it is cleared.
    case block
    /// Start anyway; the work note, log and audit record name the conflict.
    case warn
    /// Do not run the check (as before the schedule-aware gate).
    case off
}

/// `close_change_on_failure`: where a standard change goes after a failed deployment.
public enum FailureClose: String, Sendable, CaseIterable {
    /// Leave it in Implement, saying so in a work note and the audit trail.
    case none
    case review
    case closed
    case canceled
}

/// One `[projects.NAME.environments.ENV]` table: nil keys keep the project's value.
public struct EnvironmentOverride: Sendable, Equatable {
    public var conflictCheck: ConflictCheck?
    public var stopOnBlackout: Bool?
    public var configurationItems: [String]?
    /// An empty string means "no template here" (normal changes in this environment).
    public var changeTemplate: String?
    public init() {}
}
