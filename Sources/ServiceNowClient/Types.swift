import Foundation
import ServiceNowModel

/// A standard change template (record producer) as `change/standard/template` lists it.
public struct StandardChangeTemplate: Sendable, Equatable {
    public var sysID: String
    public var name: String

    public init(sysID: String, name: String) {
        self.sysID = sysID
        self.name = name
    }
}

/// Fields to change on a change request; nil fields are left alone.
public struct ChangeUpdate: Sendable, Equatable {
    public var state: ChangeState?
    public var workNotes: String?
    public var closeCode: CloseCode?
    public var closeNotes: String?
    /// The actual work times (`work_start`, `work_end`), sent as UTC.
    public var workStart: Date?
    public var workEnd: Date?
    /// Any other field, by its ServiceNow name; the typed fields above win over the same name here.
    public var extraFields: [String: String]

    public init(state: ChangeState? = nil, workNotes: String? = nil, closeCode: CloseCode? = nil, closeNotes: String? = nil,
                workStart: Date? = nil, workEnd: Date? = nil, extraFields: [String: String] = [:]) {
        self.state = state
        self.workNotes = workNotes
        self.closeCode = closeCode
        self.closeNotes = closeNotes
        self.workStart = workStart
        self.workEnd = workEnd
        self.extraFields = extraFields
    }

    /// The PATCH body fields.
    var fields: [String: String] {
        var f = extraFields
        if let state { f["state"] = String(state.rawValue) }
        if let workNotes { f["work_notes"] = workNotes }
        if let closeCode { f["close_code"] = closeCode.rawValue }
        if let closeNotes { f["close_notes"] = closeNotes }
        if let workStart { f["work_start"] = GlideDateTime.format(workStart) }
        if let workEnd { f["work_end"] = GlideDateTime.format(workEnd) }
        return f
    }
}
