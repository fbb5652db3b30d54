/// A value in an audit record's details: the JSON subset the canonical form allows.
/// No floating point on purpose: its text form is not stable across languages, integers and strings are.
public enum AuditValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case string(String)
    case array([AuditValue])
    case object([String: AuditValue])

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var intValue: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }

    public var arrayValue: [AuditValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: [String: AuditValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public subscript(key: String) -> AuditValue? { objectValue?[key] }

    /// `.string` of the value, or `.null` when it is nil.
    public static func optional(_ s: String?) -> AuditValue { s.map(AuditValue.string) ?? .null }

    /// `.int` of the value, or `.null` when it is nil.
    public static func optional<I: BinaryInteger>(_ i: I?) -> AuditValue { i.map { .int(Int64($0)) } ?? .null }
}

extension AuditValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByNilLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: AuditValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, AuditValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

/// What happened, as the daemon hands it to the store: a kind from the documented vocabulary and its details.
public struct AuditEvent: Sendable, Equatable {
    public var kind: String
    public var details: [String: AuditValue]

    public init(_ kind: String, _ details: [String: AuditValue] = [:]) {
        self.kind = kind
        self.details = details
    }
}

/// The kinds of audit records changegate writes (the README documents each one's details).
public enum AuditKind {
    public static let enqueued = "enqueued"
    public static let changeLinked = "change_linked"
    public static let approved = "approved"
    public static let window = "window"
    public static let executionStarted = "execution_started"
    public static let executionEnded = "execution_ended"
    public static let aborted = "aborted"
    public static let changeMoved = "change_moved"
    public static let changeLeftOpen = "change_left_open"
    public static let changeUpdateFailed = "change_update_failed"
    /// The schedule-aware gate: a finished conflict check, and what it decided.
    public static let conflictCheck = "conflict_check"
    /// The work times, the log and the evidence record put on the change (attachment sys_ids).
    public static let evidenceAttached = "evidence_attached"
    /// An evidence upload that failed after its retries; the deployment's outcome stands.
    public static let evidenceUploadFailed = "evidence_upload_failed"
    public static let succeeded = "succeeded"
    public static let failed = "failed"
    public static let cancelled = "cancelled"
}
