import Foundation

/// The answer of a change's conflict check (`GET /api/sn_chg_rest/change/{sys_id}/conflict`): whether the instance
/// found a blackout, a CI outside its maintenance window, or another change on the same CI in the planned window.
public struct ConflictReport: Sendable, Equatable, Codable {
    /// `conflict_status` as the instance names it.
    public enum Status: String, Sendable, Codable, CaseIterable {
        case notRun = "Not Run"
        case conflict = "Conflict"
        case noConflict = "No Conflict"
    }

    public var status: Status
    /// The check still runs on the instance (`job_status` not yet complete): read the report again later.
    public var inProgress: Bool
    public var lastRun: Date?
    public var conflicts: [ChangeConflict]

    /// A verdict: the check ran to its end (not still running, not "Not Run").
    public var isFinished: Bool { !inProgress && status != .notRun }

    public init(status: Status, inProgress: Bool = false, lastRun: Date? = nil, conflicts: [ChangeConflict] = []) {
        self.status = status
        self.inProgress = inProgress
        self.lastRun = lastRun
        self.conflicts = conflicts
    }
}

/// One `conflict` record of a change.
public struct ChangeConflict: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case blackout
        case notInMaintenanceWindow = "not_in_maintenance_window"
        case ciAlreadyScheduled = "ci_already_scheduled"
        case other
    }

    public var kind: Kind
    /// The instance's own `type` value (kept when `kind` is `.other`).
    public var type: String
    /// What the instance says of it, for work notes, logs and the audit record.
    public var description: String
    /// The configuration item concerned (name, or sys_id when the name is unknown).
    public var configurationItem: String?
    /// The blackout or maintenance schedule concerned, by name.
    public var schedule: String?
    /// The other change on the same CI, by number.
    public var otherChange: String?

    public init(kind: Kind, type: String, description: String, configurationItem: String? = nil, schedule: String? = nil, otherChange: String? = nil) {
        self.kind = kind
        self.type = type
        self.description = description
        self.configurationItem = configurationItem
        self.schedule = schedule
        self.otherChange = otherChange
    }
}

/// One span of a blackout schedule that applies to a change, in absolute time (repeats already expanded).
public struct BlackoutSpan: Sendable, Equatable, Codable {
    /// The blackout schedule's name.
    public var schedule: String
    public var start: Date
    public var end: Date

    public init(schedule: String, start: Date, end: Date) {
        self.schedule = schedule
        self.start = start
        self.end = end
    }
}

/// A configuration item (`cmdb_ci`) as a change names it.
public struct ConfigurationItem: Sendable, Equatable, Codable {
    public var sysID: String
    public var name: String

    public init(sysID: String, name: String) {
        self.sysID = sysID
        self.name = name
    }
}

/// A file attached to a record (`sys_attachment`).
public struct AttachmentRecord: Sendable, Equatable, Codable {
    public var sysID: String
    public var fileName: String
    public var contentType: String
    public var sizeBytes: Int
    /// The instance's hash of the content (`hash`), as it reports it.
    public var hash: String

    public init(sysID: String, fileName: String, contentType: String, sizeBytes: Int, hash: String) {
        self.sysID = sysID
        self.fileName = fileName
        self.contentType = contentType
        self.sizeBytes = sizeBytes
        self.hash = hash
    }
}
