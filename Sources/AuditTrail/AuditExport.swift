/// One deployment in an audit export.
public struct AuditExportRow: Sendable, Equatable {
    public struct Approver: Sendable, Equatable {
        public var name: String
        public var state: String
        /// When the approver's record was last updated (their decision), UTC ISO-8601; nil if unknown.
        public var at: String?

        public init(name: String, state: String, at: String?) {
            self.name = name
            self.state = state
            self.at = at
        }
    }

    public var taskID: Int64
    public var project: String
    public var environment: String
    public var release: String
    public var requestedBy: String?
    public var state: String
    public var changeNumber: String?
    public var changeType: String?
    /// How the change was found or made: given_number, title_match, correlation_match, created_standard, …
    public var linkedBy: String?
    public var changeURL: String?
    /// The approvals recorded when the change was seen in Implement; nil when the deployment never got there
    /// or they could not be read (then `approversError` says why).
    public var approvers: [Approver]?
    public var approversError: String?
    public var approvedAt: String?
    public var windowStart: String?
    public var windowEnd: String?
    public var startedAt: String?
    public var finishedAt: String?
    public var outcome: String?
    public var reason: String?
    public var closeCode: String?
    /// seq and hash of the deployment's last audit record: ties the row to the verified chain.
    public var auditSeq: Int64?
    public var auditHash: String?

    public init(taskID: Int64, project: String, environment: String, release: String, state: String) {
        self.taskID = taskID
        self.project = project
        self.environment = environment
        self.release = release
        self.state = state
    }
}

/// CSV (RFC 4180) and JSON-lines forms of an audit export.
public enum AuditExport {
    public static let columns = [
        "task_id", "project", "environment", "release", "requested_by", "state", "change_number", "change_type",
        "linked_by", "change_url", "approvers", "approved_at", "window_start", "window_end", "started_at", "finished_at",
        "outcome", "reason", "close_code", "audit_seq", "audit_hash",
    ]

    /// The header line, CRLF-terminated.
    public static var csvHeader: String { columns.map(csvField).joined(separator: ",") + "\r\n" }

    /// One CSV record, CRLF-terminated (RFC 4180). Approvers are `Name: state at; Name: state at`.
    public static func csvLine(_ row: AuditExportRow) -> String {
        let approvers = row.approvers.map { list in
            list.map { "\($0.name): \($0.state)" + ($0.at.map { " \($0)" } ?? "") }.joined(separator: "; ")
        } ?? row.approversError.map { "(could not be read: \($0))" }
        let fields: [String?] = [
            String(row.taskID), row.project, row.environment, row.release, row.requestedBy, row.state, row.changeNumber,
            row.changeType, row.linkedBy, row.changeURL, approvers, row.approvedAt,
            row.windowStart, row.windowEnd, row.startedAt, row.finishedAt, row.outcome, row.reason, row.closeCode,
            row.auditSeq.map(String.init), row.auditHash,
        ]
        return fields.map { csvField($0 ?? "") }.joined(separator: ",") + "\r\n"
    }

    /// One field: quoted when it holds a comma, quote, CR or LF (quotes doubled). A value a spreadsheet would run
    /// as a formula (starting with = + - @ tab or CR) gets a leading `'`; the JSON export keeps values unchanged.
    public static func csvField(_ value: String) -> String {
        var v = value
        if let first = v.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) { v = "'" + v }
        guard v.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return v }
        return "\"" + v.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// One JSON object on one line (canonical: sorted keys, no white space), LF-terminated. Missing values are null.
    public static func jsonLine(_ row: AuditExportRow) -> String {
        CanonicalJSON.encode(jsonValue(row)) + "\n"
    }

    public static func jsonValue(_ row: AuditExportRow) -> AuditValue {
        let approvers: AuditValue = row.approvers.map { list in
            .array(list.map { .object(["name": .string($0.name), "state": .string($0.state), "at": .optional($0.at)]) })
        } ?? .null
        return .object([
            "task_id": .int(row.taskID), "project": .string(row.project), "environment": .string(row.environment),
            "release": .string(row.release), "requested_by": .optional(row.requestedBy), "state": .string(row.state),
            "change_number": .optional(row.changeNumber), "change_type": .optional(row.changeType),
            "linked_by": .optional(row.linkedBy), "change_url": .optional(row.changeURL), "approvers": approvers,
            "approvers_error": .optional(row.approversError),
            "approved_at": .optional(row.approvedAt), "window_start": .optional(row.windowStart),
            "window_end": .optional(row.windowEnd), "started_at": .optional(row.startedAt),
            "finished_at": .optional(row.finishedAt), "outcome": .optional(row.outcome), "reason": .optional(row.reason),
            "close_code": .optional(row.closeCode), "audit_seq": .optional(row.auditSeq), "audit_hash": .optional(row.auditHash),
        ])
    }
}
