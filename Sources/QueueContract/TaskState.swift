/// Where a deployment is in its life. The raw values are the `state` column of the queue contract.
public enum TaskState: String, Sendable, Codable, CaseIterable {
    case queued
    case creatingChange = "creating_change"
    case awaitingApproval = "awaiting_approval"
    case implementCheck = "implement_check"
    case executing
    case completing
    case succeeded
    case failed
    case cancelled

    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled }

    /// States whose work is waiting on ServiceNow or the child, which survive a daemon restart as they are.
    public var isActive: Bool { !isTerminal && self != .queued }
}

/// Machine-readable result of a deployment: the `outcome` column.
public enum Outcome: String, Sendable, Codable, CaseIterable {
    case succeeded
    case notChangeControlled = "not_change_controlled"
    case changeRejected = "change_rejected"
    case changeCanceled = "change_canceled"
    case changeClosed = "change_closed"
    case changeWindowClosed = "change_window_closed"
    case changeLeftImplement = "change_left_implement"
    case changeNotFound = "change_not_found"
    case ambiguousChange = "ambiguous_change"
    case approvalTimeout = "approval_timeout"
    /// conflict_check = block: ServiceNow still reported a conflict (blackout, maintenance window, CI already
    /// scheduled) when approval_timeout ran out.
    case changeConflict = "change_conflict"
    /// A blackout span began while the deploy command ran, and stop_on_blackout stopped it.
    case blackoutWindow = "blackout_window"
    case deployFailed = "deploy_failed"
    case deployTimeout = "deploy_timeout"
    case invalidRequest = "invalid_request"
    case interrupted
    case cancelled
    case servicenowError = "servicenow_error"
    case configError = "config_error"

    /// Whether the deployment ended well (the terminal state is `succeeded`).
    public var isSuccess: Bool { self == .succeeded || self == .notChangeControlled }
}

/// How a task came to use its change request (for the log and the audit trail).
public enum ChangeLink: String, Sendable, Codable, CaseIterable {
    case givenNumber = "given_number"
    case titleMatch = "title_match"
    case correlationMatch = "correlation_match"
    case createdStandard = "created_standard"
    case createdNormal = "created_normal"
    case createdEmergency = "created_emergency"
}
