import Foundation

/// `change_request.state`, as ServiceNow numbers it.
public enum ChangeState: Int, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case new = -5
    case assess = -4
    case authorize = -3
    case scheduled = -2
    case implement = -1
    case review = 0
    case closed = 3
    case canceled = 4

    /// The label ServiceNow shows for the state (`display_value`).
    public var displayName: String {
        switch self {
        case .new: "New"
        case .assess: "Assess"
        case .authorize: "Authorize"
        case .scheduled: "Scheduled"
        case .implement: "Implement"
        case .review: "Review"
        case .closed: "Closed"
        case .canceled: "Canceled"
        }
    }

    public var description: String { "\(displayName) (\(rawValue))" }

    /// Open means a deployment may still use the change: not Review, Closed or Canceled.
    public var isOpen: Bool { rawValue < 0 }

    public init?(displayName: String) {
        guard let match = Self.allCases.first(where: { $0.displayName == displayName }) else { return nil }
        self = match
    }
}

/// `change_request.type`.
public enum ChangeType: String, Sendable, Codable, CaseIterable {
    case normal, standard, emergency

    public var displayName: String { rawValue.prefix(1).uppercased() + rawValue.dropFirst() }

    /// The states a change of this type passes through, in order (Canceled aside).
    public var statePath: [ChangeState] {
        switch self {
        case .normal: [.new, .assess, .authorize, .scheduled, .implement, .review, .closed]
        case .standard: [.new, .scheduled, .implement, .review, .closed]
        case .emergency: [.new, .authorize, .scheduled, .implement, .review, .closed]
        }
    }
}

/// `change_request.approval`: the roll-up of the change's approvers.
public enum ApprovalState: String, Sendable, Codable, CaseIterable {
    case notRequested = "not requested"
    case requested
    case approved
    case rejected
}

/// `sysapproval_approver.state`: one approver's decision.
public enum ApproverState: String, Sendable, Codable, CaseIterable {
    case notRequested = "not requested"
    case requested
    case approved
    case rejected
    case cancelled
    case notRequired = "not_required"
    case skipped
}

/// `change_request.close_code`.
public enum CloseCode: String, Sendable, Codable, CaseIterable {
    case successful
    case successfulIssues = "successful_issues"
    case unsuccessful
}

/// What changegate needs to know about one change request to make a decision.
public struct ChangeSnapshot: Sendable, Equatable, Codable {
    public var sysID: String
    public var number: String
    public var state: ChangeState
    public var approval: ApprovalState
    public var type: ChangeType
    /// Planned window (`start_date`, `end_date`); nil when not set.
    public var plannedStart: Date?
    public var plannedEnd: Date?
    public var shortDescription: String
    public var correlationID: String
    public var updatedOn: Date?

    public init(
        sysID: String, number: String, state: ChangeState, approval: ApprovalState, type: ChangeType,
        plannedStart: Date? = nil, plannedEnd: Date? = nil, shortDescription: String = "",
        correlationID: String = "", updatedOn: Date? = nil
    ) {
        self.sysID = sysID
        self.number = number
        self.state = state
        self.approval = approval
        self.type = type
        self.plannedStart = plannedStart
        self.plannedEnd = plannedEnd
        self.shortDescription = shortDescription
        self.correlationID = correlationID
        self.updatedOn = updatedOn
    }
}

/// One row of `sysapproval_approver` for a change, with the approver's name.
public struct ApproverRecord: Sendable, Equatable, Codable {
    public var sysID: String
    public var approverName: String
    public var approverSysID: String
    public var state: ApproverState
    public var comments: String
    public var updatedOn: Date?

    public init(sysID: String, approverName: String, approverSysID: String, state: ApproverState, comments: String, updatedOn: Date?) {
        self.sysID = sysID
        self.approverName = approverName
        self.approverSysID = approverSysID
        self.state = state
        self.comments = comments
        self.updatedOn = updatedOn
    }
}

/// ServiceNow's `glide_date_time` text form, `YYYY-MM-DD HH:MM:SS`, in UTC (the `value` of a date field).
public enum GlideDateTime {
    public static func parse(_ text: String) -> Date? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty else { return nil }
        let parts = t.split(whereSeparator: { $0 == "-" || $0 == " " || $0 == ":" || $0 == "T" })
        guard parts.count == 6, let y = Int(parts[0]), let mo = Int(parts[1]), let d = Int(parts[2]),
              let h = Int(parts[3]), let mi = Int(parts[4]), let s = Int(parts[5].prefix(2)),
              (1...12).contains(mo), (1...31).contains(d), (0...23).contains(h), (0...59).contains(mi), (0...60).contains(s)
        else { return nil }
        var c = DateComponents()
        (c.year, c.month, c.day, c.hour, c.minute, c.second) = (y, mo, d, h, mi, s)
        return utcCalendar.date(from: c)
    }

    public static func format(_ date: Date) -> String {
        let c = utcCalendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }

    private static let utcCalendar: Calendar = {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        return cal
    }()
}

/// Journal fields (`comments`, `work_notes`) read back as `"2026-11-29 14:02:11 - Bob CAB (Comments)\ntext\n\n"`,
/// newest entry first. This takes the text of the newest entry.
public enum JournalText {
    public static func newestEntry(_ journal: String) -> String {
        var lines = journal.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let first = lines.first, isHeader(first) else { return journal.trimmingCharacters(in: .whitespacesAndNewlines) }
        lines.removeFirst()
        let body = lines.prefix { !isHeader($0) }
        return body.joined(separator: " ").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func isHeader(_ line: String) -> Bool {
        guard line.count > 22, GlideDateTime.parse(String(line.prefix(19))) != nil else { return false }
        return line.dropFirst(19).hasPrefix(" - ") && line.hasSuffix(")")
    }
}
